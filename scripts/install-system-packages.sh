#!/usr/bin/env bash
# Debian packages the tests drive for real, installed once (idempotent; nothing to do when all are present):
#   chromium (+ fonts for Persian)  the Playwright browser tests (Playwright's own browser download needs the internet)
#   espeak-ng                       `ivr prompts render`: audio for languages Twilio's <Say> does not speak (Persian)
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core fonts-noto-core)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages present: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), $(espeak-ng --version 2>/dev/null | head -n 1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-system-packages: need root (or sudo) to apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
