#!/usr/bin/env bash
# Builds the kernel library and the `krepis` CLI for one target in release mode and
# packages them into a dist directory with their SHA-256, exactly as the release workflow
# ships them (the workflow runs this script; `deno task e2e:user` runs it for the host).
#
#   tools/release/package.sh <target-triple> <dist-dir>
#
# Writes <dist>/<lib>-<target>.<ext>, <dist>/krepis-<target>[.exe], a .sha256 file beside
# each, and <dist>/manifest-<target>.json ({"target","file","sha256"}) for the manifest.
set -euo pipefail

target="${1:?usage: package.sh <target-triple> <dist-dir>}"
dist="${2:?usage: package.sh <target-triple> <dist-dir>}"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

case "$target" in
  *windows*) lib="krepis.dll" exe=".exe" ;;
  *apple*) lib="libkrepis.dylib" exe="" ;;
  *) lib="libkrepis.so" exe="" ;;
esac

cargo build --release --locked --target "$target" -p krepis-ffi -p krepis-cli

out="${CARGO_TARGET_DIR:-target}/$target/release"
# Asset names carry the target so every file of the release is unique.
lib_asset="${lib%.*}-$target.${lib##*.}"
cli_asset="krepis-$target$exe"
mkdir -p "$dist"
cp "$out/$lib" "$dist/$lib_asset"
cp "$out/krepis$exe" "$dist/$cli_asset"
cd "$dist"
if command -v sha256sum >/dev/null; then sum="sha256sum"; else sum="shasum -a 256"; fi
for f in "$lib_asset" "$cli_asset"; do $sum "$f" | cut -d' ' -f1 >"$f.sha256"; done
printf '{"target":"%s","file":"%s","sha256":"%s"}\n' \
  "$target" "$lib_asset" "$(cat "$lib_asset.sha256")" >"manifest-$target.json"
