#!/usr/bin/env bash
# Installs what the Android checks need from Debian: kotlin (kotlinc 1.3) and junit4 for the
# core tests; aapt2 (android-sdk-build-tools) and android-framework-res for the resources.
set -euo pipefail
if command -v kotlinc >/dev/null && command -v aapt2 >/dev/null \
    && [ -f /usr/share/java/junit4.jar ] \
    && [ -f /usr/share/android-framework-res/framework-res.apk ]; then
  exit 0
fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get install -y -q kotlin junit4 android-sdk-build-tools android-framework-res >/dev/null
