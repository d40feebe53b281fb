#!/usr/bin/env bash
# Cold-start benchmark of the five function binaries: builds them in release (the workspace
# release profile strips), then times 20 starts of each from process spawn to its first
# GET /runtime/invocation/next against loopback stubs (tests/src/bin/cold_start.rs).
# Prints a table; the JSON for BENCHMARKS.md goes to target/bench/cold_start.json.
#
#   scripts/bench_cold_start.sh [--runs N] [extra cold-start args...]
#
# The measuring harness itself is built with the dev profile by default (the test build
# already has its dependencies; its stub's answer time is printed, well under a millisecond).
# HARNESS_PROFILE=release builds it optimised instead: a second release build of the AWS SDK,
# since the harness's dependencies unify features differently from the functions'.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FUNCTIONS=(zoom-webhook producer consumer symbl-webhook notifier)
HARNESS_PROFILE="${HARNESS_PROFILE:-dev}"
JSON="$ROOT/target/bench/cold_start.json"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

log "building the functions (release)"
pkgs=()
for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
# The functions on their own, so the harness's dependencies cannot unify features into them.
cargo build --release "${pkgs[@]}"

log "building the harness ($HARNESS_PROFILE)"
cargo build --profile "$HARNESS_PROFILE" -p e2e --bin cold-start
case "$HARNESS_PROFILE" in dev) harness_dir=debug ;; *) harness_dir="$HARNESS_PROFILE" ;; esac

bins=()
for f in "${FUNCTIONS[@]}"; do bins+=("$f=$ROOT/target/release/$f"); done
mkdir -p "$(dirname "$JSON")"
log "running"
"$ROOT/target/$harness_dir/cold-start" --runs 20 --json "$JSON" "$@" "${bins[@]}"
