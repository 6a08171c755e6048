#!/usr/bin/with-contenv bashio
# shellcheck shell=bash
# ==============================================================================
# Sungrow iSolarCloud: start the polling service.
# The options are read by Python from /data/options.json; exec hands it SIGTERM.
# ==============================================================================
bashio::log.info "Starting Sungrow iSolarCloud..."
exec python3 -m sungrow
