#!/usr/bin/env bash
# Installs what the Kotlin core tests need from Debian: kotlin (kotlinc 1.3) and junit4.
set -euo pipefail
if command -v kotlinc >/dev/null && [ -f /usr/share/java/junit4.jar ]; then
  exit 0
fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get install -y -q kotlin junit4 >/dev/null
