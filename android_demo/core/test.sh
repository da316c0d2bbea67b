#!/usr/bin/env bash
# Compiles the Android demo's pure-Kotlin core with kotlinc (Debian's kotlin 1.3) and runs its
# JUnit 4 tests against the golden vectors. Needs: kotlin, junit4 (apt-get install kotlin junit4).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
junit=/usr/share/java/junit4.jar
hamcrest=/usr/share/java/hamcrest-core.jar
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
kotlinc -language-version 1.3 -api-version 1.3 -nowarn \
  "$here/src/main/kotlin" -d "$out/core.jar" 2>&1 | grep -v '^warning' || true
test -s "$out/core.jar"
kotlinc -language-version 1.3 -api-version 1.3 -nowarn -cp "$out/core.jar:$junit" \
  "$here/src/test/kotlin" -d "$out/tests.jar" 2>&1 | grep -v '^warning' || true
test -s "$out/tests.jar"
kotlin_stdlib="$(dirname "$(readlink -f "$(command -v kotlinc)")")/../lib/kotlin-stdlib.jar"
[ -f "$kotlin_stdlib" ] || kotlin_stdlib=/usr/share/java/kotlin-stdlib.jar
classes=$(cd "$here/src/test/kotlin" && find . -name '*Test.kt' | sed 's|^\./||; s|\.kt$||; s|/|.|g')
java -Dgolden.dir="${GOLDEN_DIR:-$here/golden}" -Dmodels.dir="$here/../app/src/main/assets/models" -cp "$out/core.jar:$out/tests.jar:$junit:$hamcrest:$kotlin_stdlib" \
  org.junit.runner.JUnitCore $classes
