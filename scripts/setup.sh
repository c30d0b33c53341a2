#!/usr/bin/env bash
# Sets up respmon on a Debian machine: system libraries, a virtual environment in .venv,
# the CPU build of torch, and the package with its camera, train, test, plot and postgresql extras.
# Idempotent: run it again at any time. PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    # pyrealsense2 links against libusb at import time.
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing libusb-1.0-0 (needed by pyrealsense2)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libusb-1.0-0 >/dev/null
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch first and pinned: a bare `torch` requirement with nothing installed pulls a multi-GB
# CUDA build; 2.13.0 is the CPU wheel.
if ! .venv/bin/python -c 'import sys, torch; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    echo "setup: installing torch 2.13.0 (CPU)" >&2
    "${pip[@]}" install torch==2.13.0
fi
echo "setup: installing respmon and its dependencies" >&2
"${pip[@]}" install -e '.[camera,train,test,plot,postgresql]'
echo "setup: ready (.venv/bin/respmon)" >&2
