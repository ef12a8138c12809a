#!/usr/bin/env bash
# Debian packages the tests drive for real, installed once (idempotent; nothing to do when all are present):
#   chromium (+ fonts for Persian)  the Playwright browser tests (Playwright's own browser download needs the internet)
#   espeak-ng                       `ivr prompts render`: audio for languages Twilio's <Say> does not speak (Persian)
#   systemd (systemd-analyze)       the service units under deploy/systemd are checked with `systemd-analyze verify`
#   prometheus (promtool)           the alert rules under deploy/prometheus are checked and unit-tested with promtool
# Arguments name more commands to have, each from the Debian package of the same name (`make bench`: wrk).
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core fonts-noto-core)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
for extra in "$@"; do
    command -v "$extra" >/dev/null 2>&1 || missing+=("$extra")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages present: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), $(espeak-ng --version 2>/dev/null | head -n 1), $(promtool --version 2>&1 | head -n 1)"
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
# The prometheus package would start a Prometheus server where it is installed: only its promtool is wanted here.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
