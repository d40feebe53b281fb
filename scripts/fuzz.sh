#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, via cargo-fuzz) of the two public webhook endpoints:
# fuzz/fuzz_targets/{zoom_webhook,symbl_webhook}.rs.
#
#   scripts/fuzz.sh [seconds-per-target]      (default 30)
#   scripts/fuzz.sh --build-only              (build the targets, run nothing: `make test`
#                                              builds them beside the e2e suite)
#
# Installs the pinned cargo-fuzz if it is missing, builds the targets on the stable toolchain
# (no sanitizer, so no nightly flags; debug assertions and overflow checks on), runs each for
# that many seconds starting from the committed seeds (fuzz/corpus/<target>) plus what earlier
# runs found (fuzz/corpus-run/<target>, not committed), prints libFuzzer's final stats per
# target, and exits non-zero if any target crashed (the input is saved in fuzz/artifacts/).
# Idempotent. The fuzz crate is its own workspace with its own target dir (fuzz/target), so it
# never invalidates the main target/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
BUILD_ONLY=0
if [[ "${1:-}" == "--build-only" ]]; then BUILD_ONLY=1; shift; fi
SECS="${1:-30}"
CARGO_FUZZ_VERSION=0.13.2
TARGETS=(zoom_webhook symbl_webhook)
TARGET_DIR="$FUZZ/target"
LOGS="$TARGET_DIR/fuzz-logs"
# Larger than the biggest seed (4.3 KB) and than zoom_webhook's 4 KiB body limit.
MAX_LEN=8192

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if ! [[ "$SECS" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [seconds-per-target]" >&2
  exit 2
fi

if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# Same flags for build and run, so `run` finds the build up to date.
FUZZ_ARGS=(--fuzz-dir "$FUZZ" --target-dir "$TARGET_DIR" --sanitizer none)

cd "$ROOT"
log "building fuzz targets (${TARGETS[*]})"
start=$SECONDS
cargo fuzz build "${FUZZ_ARGS[@]}"
log "built in $((SECONDS - start)) s"
((BUILD_ONLY)) && exit 0

mkdir -p "$LOGS"
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  grown="$FUZZ/corpus-run/$target"
  mkdir -p "$grown" "$FUZZ/artifacts/$target"
  out="$LOGS/$target.log"
  log "fuzzing $target for ${SECS} s (log: ${out#"$ROOT"/})"
  marker="$LOGS/$target.started"
  touch "$marker"
  # The first corpus dir receives new inputs; the committed seeds are only read.
  set +e
  cargo fuzz run "${FUZZ_ARGS[@]}" "$target" "$grown" "$FUZZ/corpus/$target" -- \
    -max_total_time="$SECS" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
    -dict="$FUZZ/dict/$target.dict" -print_final_stats=1 >"$out" 2>&1
  rc=$?
  set -e
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out" | tail -n 1 || true)"
  [[ -n "$done_line" ]] || done_line="$(grep -E '^#[0-9]+[[:space:]]' "$out" | tail -n 1 || true)"
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out")"
  corpus="$(find "$grown" -type f | wc -l)"
  echo "$target: ${done_line:-no stats line}"
  echo "$target: executions ${runs:-?}, ${rate:-?} exec/s, corpus-run/$target has $corpus inputs, exit $rc"
  if ((rc != 0)); then
    failed+=("$target")
    echo "---- $target failed; end of its log ----"
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$out" | tail -n 40
    echo "---- artifacts: $(find "$FUZZ/artifacts/$target" -type f -newer "$marker" 2>/dev/null | tr '\n' ' ')"
    summary+=("$target: CRASHED (exit $rc)")
  else
    summary+=("$target: ok, ${runs:-?} executions, ${rate:-?} exec/s, ${done_line#*DONE}")
  fi
done

log "summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzzing found crashes in: ${failed[*]} (reproduce: cargo fuzz run ${FUZZ_ARGS[*]} <target> fuzz/artifacts/<target>/<file>)" >&2
  exit 1
fi
