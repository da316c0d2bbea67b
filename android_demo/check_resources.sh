#!/usr/bin/env bash
# Compiles and links the app's manifest and resources with Debian's aapt2 against the framework
# resources (android-framework-res, API 29): what this machine can check without an SDK.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
framework=/usr/share/android-framework-res/framework-res.apk
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
aapt2 compile --dir "$here/app/src/main/res" -o "$out/res.zip"
# Gradle adds the package from `namespace`; aapt2 alone needs it in the manifest. Debian's aapt2
# predates <uses-native-library> (API 31), which it calls unexpected: that one-line element is
# left out of what it checks (the SDK's aapt2 links it).
sed -e 's|<manifest xmlns:android="http://schemas.android.com/apk/res/android">|<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.tflitelite.demo">|' \
  -e '/<uses-native-library .*\/>/d' \
  "$here/app/src/main/AndroidManifest.xml" > "$out/AndroidManifest.xml"
grep -q 'package="org.tflitelite.demo"' "$out/AndroidManifest.xml"
aapt2 link -I "$framework" --manifest "$out/AndroidManifest.xml" --min-sdk-version 24 \
  --target-sdk-version 29 --java "$out/gen" -o "$out/resources.apk" "$out/res.zip"
test -s "$out/resources.apk"
echo "aapt2: manifest and $(find "$here/app/src/main/res" -name '*.xml' | wc -l) resource files link against $(basename "$framework")"
