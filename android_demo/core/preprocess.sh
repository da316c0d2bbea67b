#!/usr/bin/env bash
# The app's camera path on this computer: PNG / JPEG frames through the Kotlin core's
# CameraFrame, as the app runs it for a camera frame of that rotation, into one .npy array.
#
#   bash android_demo/core/preprocess.sh --contract CONTRACT.json --rotation DEG \
#       --output OUT.npy FRAME.png [FRAME.jpg ...]
#
# Needs kotlin (Debian's kotlinc 1.3, `bash android_demo/core/setup.sh`). The compiled jar is
# kept under core/build/ and rebuilt when a source changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$here/build/preprocess"
stamp=$(cat $(find "$here/src/main/kotlin" "$here/src/cli/kotlin" -name '*.kt' | sort) | sha256sum | cut -c1-16)
jar="$build/preprocess-$stamp.jar"
if [ ! -s "$jar" ]; then
  mkdir -p "$build"
  rm -f "$build"/preprocess-*.jar
  kotlinc -language-version 1.3 -api-version 1.3 -nowarn -include-runtime \
    "$here/src/main/kotlin" "$here/src/cli/kotlin" -d "$jar.tmp.jar" 2>&1 | grep -v '^warning' >&2 || true
  test -s "$jar.tmp.jar" || { echo "error: the Kotlin core did not compile" >&2; exit 1; }
  mv "$jar.tmp.jar" "$jar"
fi
exec java -Djava.awt.headless=true -cp "$jar" org.tflitelite.demo.cli.PreprocessKt "$@"
