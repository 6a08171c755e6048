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

# Install the Debian packages that are missing, each given as package:program (the program
# it provides), e.g. `ensure_debian_packages mosquitto:mosquitto strace:strace`.
ensure_debian_packages() {
    local missing=() entry program
    for entry in "$@"; do
        program=${entry#*:}
        if ! command -v "$program" >/dev/null && [ ! -x "/usr/sbin/$program" ]; then
            missing+=("${entry%%:*}")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "${missing[*]} cannot be installed: the tests that need it will be skipped" >&2
            return
        fi
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
        { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }
}
