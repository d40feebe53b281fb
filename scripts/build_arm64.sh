#!/usr/bin/env bash
# The production build path, checked offline: `sam build` of template.yaml for arm64 (the
# template's default), cross-compiled by cargo-lambda with zig. The ffmpeg layer takes the
# installed ffmpeg instead of downloading the pinned wheel (FFMPEG_LOCAL_PATH), so the only
# network this needs is crates.io for the first cargo fetch; the result is a check, not
# something to deploy.
#   PROFILE=debug (default, what CI runs: the same toolchain, target and template in a third
#   of the time) or PROFILE=release (exactly what `sam build` makes for AWS).
source "$(dirname "$0")/lib.sh"
BUILD_DIR="$ROOT/.aws-sam/build-arm64"
PROFILE="${PROFILE:-debug}"
case "$PROFILE" in
  debug) mode=(SAM_BUILD_MODE=debug) ;;
  release) mode=() ;; # sam's default
  *) echo "PROFILE must be debug or release" >&2; exit 2 ;;
esac
log "sam build (arm64, $PROFILE) into ${BUILD_DIR#$ROOT/}"
(cd "$ROOT" && env "${mode[@]}" PATH="$VENV/sam/bin:$PATH" FFMPEG_LOCAL_PATH="$(command -v ffmpeg)" \
  "$VENV/sam/bin/sam" build --build-dir "$BUILD_DIR" --cache-dir "$ROOT/.aws-sam/cache-arm64" \
  --parameter-overrides Architecture=arm64 >"$LOCAL/sam-build-arm64.log" 2>&1) \
  || { tail -n 40 "$LOCAL/sam-build-arm64.log" >&2; exit 1; }
for fn in ZoomWebhookFunction ProducerFunction ConsumerFunction SymblWebhookFunction NotifierFunction; do
  bin="$BUILD_DIR/$fn/bootstrap"
  # ELF e_machine (2 bytes at offset 18): 0xb7 is AArch64.
  machine="$(od -An -j18 -N2 -tu2 "$bin" | tr -d ' ')"
  [[ "$machine" == 183 ]] || { echo "$bin is not an arm64 executable (e_machine $machine)" >&2; exit 1; }
  printf '  %-22s %s\n' "$fn" "$(du -h "$bin" | cut -f1)"
done
log "arm64 build ok"
