#!/usr/bin/env bash
# Installs what the tests need (scripts/setup.sh; PostgreSQL and Chromium for the station's tests)
# and runs them. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null; then
    # The station journal's tests run on a private throwaway PostgreSQL cluster (tests/pg_server.py).
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "test: installing postgresql (the station journal is tested on it too)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    # The ward page is tested in a real browser: Debian's Chromium and its WebDriver.
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "test: installing chromium and chromium-driver (the ward page is tested in a browser)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export RESPMON_REQUIRE_BROWSER=1
# Here PostgreSQL is there: a test that cannot have it fails instead of being skipped.
export RESPMON_REQUIRE_POSTGRES=1
exec .venv/bin/python -m pytest "$@"
