#!/usr/bin/env bash
# Checks the demo's Gradle files against what its README states LiteRT needs: the Kotlin
# version (LiteRT 2.x AARs carry Kotlin 2.2+/2.3 metadata, which older compilers cannot read),
# a current AGP, compileSdk and targetSdk, and no `kotlinOptions` (newer Kotlin Gradle plugins
# reject it). Fails with one line per problem.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
catalog="$here/gradle/libs.versions.toml"
problems=0
fail() { echo "error: $*" >&2; problems=$((problems + 1)); }
# True when version $1 >= version $2.
at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
version_of() { sed -n "s/^$1 *= *\"\([^\"]*\)\".*/\1/p" "$catalog"; }
stated() {  # the README's statement "$1 >= X", e.g. "LiteRT needs Kotlin >= 2.3.0"
  grep -oE "$1 >= [0-9]+(\.[0-9]+)*" "$here/README.md" | head -n1 | awk '{print $NF}'
}

kotlin="$(version_of kotlin)"; agp="$(version_of agp)"
need_kotlin="$(stated 'LiteRT needs Kotlin')"; need_agp="$(stated 'AGP')"; need_sdk="$(stated 'targetSdk')"
[ -n "$need_kotlin" ] && [ -n "$need_agp" ] && [ -n "$need_sdk" ] \
  || fail "README.md must state 'LiteRT needs Kotlin >= X', 'AGP >= X' and 'targetSdk >= N'"
[ -n "$kotlin" ] || fail "$catalog has no kotlin version"
[ -n "$agp" ] || fail "$catalog has no agp version"
if [ -n "$kotlin" ] && [ -n "$need_kotlin" ] && ! at_least "$kotlin" "$need_kotlin"; then
  fail "Kotlin $kotlin in gradle/libs.versions.toml is older than the $need_kotlin LiteRT needs (README.md)"
fi
if [ -n "$agp" ] && [ -n "$need_agp" ] && ! at_least "$agp" "$need_agp"; then
  fail "AGP $agp in gradle/libs.versions.toml is older than the README's $need_agp"
fi
for key in compileSdk targetSdk; do
  sdk="$(sed -n "s/^ *$key *= *\([0-9]*\).*/\1/p" "$here/app/build.gradle.kts")"
  if [ -z "$sdk" ] || [ -z "$need_sdk" ] || [ "$sdk" -lt "$need_sdk" ]; then
    fail "$key ${sdk:-missing} in app/build.gradle.kts is below the README's $need_sdk"
  fi
done
if grep -rn --include='*.gradle.kts' --include='*.gradle' 'kotlinOptions' "$here"; then
  fail "kotlinOptions is rejected by current Kotlin Gradle plugins: use kotlin { compilerOptions { } }"
fi
if grep -rn --include='*.gradle.kts' -E '"[a-z0-9.-]+:[a-z0-9.-]+:[0-9][^"]*"' "$here" | grep -v 'golden'; then
  fail "a dependency with its version in a build file: versions belong in gradle/libs.versions.toml"
fi
[ "$problems" -eq 0 ] || exit 1
echo "toolchain: Kotlin $kotlin >= $need_kotlin, AGP $agp >= $need_agp, compileSdk/targetSdk >= $need_sdk, no kotlinOptions"
