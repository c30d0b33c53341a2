#!/usr/bin/env bash
# Installs what the tests need (scripts/setup.sh) and runs them. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
