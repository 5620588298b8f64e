#!/usr/bin/env bash
# Builds the browser client: the binding (src/lib.rs) for wasm32 and its JS
# glue (wasm-bindgen, the CLI of the same version as the crate in
# Cargo.lock) into www/pkg/, which chat_server --web www serves with
# www/index.html and www/app.js.
set -euo pipefail
cd "$(dirname "$0")"
target="${CARGO_TARGET_DIR:-$PWD/target}"
want="$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p}' Cargo.lock)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$want" ]; then
  echo "web/build.sh: needs wasm-bindgen-cli $want (found: ${have:-none}):" >&2
  echo "  cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi
cargo build --lib --release --target wasm32-unknown-unknown --quiet
wasm-bindgen --target web --no-typescript --out-dir www/pkg \
  "$target/wasm32-unknown-unknown/release/ackwire_web.wasm"
echo "built www/pkg/ ($(du -k www/pkg/ackwire_web_bg.wasm | cut -f1) KiB of wasm)"
