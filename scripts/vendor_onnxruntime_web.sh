#!/usr/bin/env bash
# Reproduce konstrukt/exporting/web/vendor/ from the npm registry: onnxruntime-web at the pinned
# version, only the files the exported web page loads (single-threaded WASM), checked by sha256.
# The files are committed, so nothing is fetched when a user exports; run this to audit or re-pin
# (then update VERSION and the hashes here and in konstrukt/exporting/web/__init__.py).
set -euo pipefail
VERSION=1.31.1
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/konstrukt/exporting/web/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "onnxruntime-web@$VERSION" >/dev/null && tar xzf "onnxruntime-web-$VERSION.tgz")
mkdir -p "$DEST"
for f in ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp "$TMP/package/dist/$f" "$DEST/$f"
done
# the npm package declares "license": "MIT" but ships no licence file: the text is onnxruntime's
# LICENSE (github.com/microsoft/onnxruntime, MIT), kept beside the files as LICENSE-onnxruntime.txt
grep -q '"license": "MIT"' "$TMP/package/package.json"
cd "$DEST" && sha256sum -c - <<'SUMS'
b8a78c408c40da65fdc8ba0846f7b2948e92a4c6d6b23cc8e4165e428ad95443  ort.wasm.min.js
30ed0b5cd1182ede931fea448afb567d4dc705ec957af09f108a2be5f770dac3  ort-wasm-simd-threaded.mjs
4b884c203b0fa48d057be3332c65513ff85aa3c5bddd6946acc0fab7ecda001d  ort-wasm-simd-threaded.wasm
SUMS
