"""Turning readings into sensor states: catalog, counter guard, freshness, names."""
