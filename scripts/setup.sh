#!/usr/bin/env bash
# Set up everything the book and its tests need, on a fresh machine, idempotently:
#   - the virtualenv .venv/ with the exact versions pinned in requirements.txt,
#   - vaelib installed from this checkout (editable),
#   - Debian's chromium for the browser check, where apt-get is available.
# Usage: bash scripts/setup.sh        (called by build_book.sh and test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# Re-install only when requirements.txt or pyproject.toml changed since the last setup.
# VAELIB_LATEST=1 (the weekly drift check) installs the newest releases that pyproject.toml's
# ranges allow, instead of the exact pins of requirements.txt.
stamp=.venv/.vaelib-setup-stamp
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)-latest=${VAELIB_LATEST:-0}
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if [ "${VAELIB_LATEST:-0}" = "1" ]; then
        echo "setup: installing the newest releases (unpinned drift check)"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager -e ".[book]"
    else
        echo "setup: installing pinned requirements"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
    fi
    echo "$want" > "$stamp"
fi

if [ "${VAELIB_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "setup: installing Debian's chromium for the browser check"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: no chromium and no apt-get as root: the browser check will be skipped" >&2
    fi
fi
echo "setup: ready ($(.venv/bin/python -c 'import vaelib, torch; print("torch", torch.__version__, "vaelib", vaelib.__version__)'))"
