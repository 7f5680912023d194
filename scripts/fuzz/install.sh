#!/usr/bin/env bash
# scripts/fuzz/install.sh — installs cargo-fuzz from crates.io if it is missing.
# Only the stable toolchain is available here; scripts/fuzz/run.sh builds the
# targets with RUSTC_BOOTSTRAP=1 so that cargo-fuzz's nightly-only flags
# (-Zsanitizer=address and friends) are accepted by the stable compiler.
set -euo pipefail
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.1}"
if cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz present: $(cargo fuzz --version)"
    exit 0
fi
cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
