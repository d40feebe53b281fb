#!/usr/bin/env bash
# Installs the pinned tools into .venv/ (two virtual environments) and ffmpeg. Idempotent.
source "$(dirname "$0")/lib.sh"

make_venv() { # name requirements-file
  local dir="$VENV/$1" req="$ROOT/scripts/$2" stamp="$VENV/$1/.installed"
  if [[ -f "$stamp" ]] && cmp -s "$req" "$stamp"; then return 0; fi
  log "installing $1 tools into $dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

make_venv ministack requirements-ministack.txt
make_venv sam requirements-sam.txt

# ffmpeg for the producer and the sandboxes; Chromium renders the email in one test.
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v chromium >/dev/null || missing+=(chromium)
if ((${#missing[@]})); then
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
