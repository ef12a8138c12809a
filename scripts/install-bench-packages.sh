#!/usr/bin/env bash
# What `make bench` needs from the system, installed once (idempotent): wrk, the HTTP load generator.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
    echo "bench packages present: $(wrk --version 2>&1 | head -n 1)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-bench-packages: need root (or sudo) to apt-get install wrk" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends wrk
