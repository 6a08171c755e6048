"""Sungrow iSolarCloud for Home Assistant: an add-on that polls the iSolarCloud Open API."""

__version__ = "0.11.0"
