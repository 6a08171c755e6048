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
