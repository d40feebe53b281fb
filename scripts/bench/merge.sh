#!/usr/bin/env bash
# Merge-path benchmark (BENCHMARKS.md): generated meetings (SIZES, default 2x10,8x60,16x60)
# served by the Zoom sandbox; for each, in one run, the floor (ffmpeg decoding the inputs
# from disk), our producer on a release-built local stack, and the Python original's
# approach (scripts/bench/baseline.py). Writes target/bench/merge.json and docs/bench/merge.png.
source "$(dirname "$0")/../lib.sh"
SIZES="${SIZES:-2x10,8x60,16x60}"
if [[ ! -x "$VENV/bench/bin/python" ]] || ! cmp -s "$ROOT/scripts/requirements-bench.txt" "$VENV/bench/.installed"; then
  log "installing the plotting tools into .venv/bench"
  python3 -m venv "$VENV/bench"
  "$VENV/bench/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements-bench.txt"
  cp "$ROOT/scripts/requirements-bench.txt" "$VENV/bench/.installed"
fi
cd "$ROOT"
cargo build -q --release -p e2e --bin producer-bench
log "generating the meetings (cached in target/bench/meetings)"
target/release/producer-bench --prepare-only --sizes "$SIZES"
log "release build of the stack"
STACK_PROFILE=release scripts/stack.sh deploy
target/release/producer-bench --sizes "$SIZES"
"$VENV/bench/bin/python" scripts/bench/plot.py
log "results in target/bench/merge.json, plot in docs/bench/merge.png"
