# shellcheck shell=bash
# Sourced by the other scripts: create .venv with $PYTHON (default python3) and install a
# requirements file into it, once per content of that file.

ensure_venv() {
    local requirements=$1
    local python=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    local stamp
    stamp=".venv/.installed-$(cat "$requirements" sungrow_addon/requirements.txt | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
        touch "$stamp"
    fi
}

# The MQTT tests run a real broker: Debian's mosquitto (not started as a service).
ensure_mosquitto() {
    if command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; then
        return
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "mosquitto is missing and cannot be installed: the MQTT tests will be skipped" >&2
            return
        fi
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq mosquitto >/dev/null ||
        { $sudo apt-get update -qq && $sudo apt-get install -y -qq mosquitto >/dev/null; }
}
