#!/usr/bin/env bash
# The local AWS stack: ministack on localhost, the template deployed to it.
#   stack.sh up       start ministack (reuses a healthy one, replaces a dead one)
#   stack.sh deploy   sam build for the host architecture + sam deploy of two stacks: the Symbl
#                     provider's (.local/stack.json) and the aws provider's (.local/stack-aws.json)
#   stack.sh down     stop ministack
#   stack.sh status   print health and the deployed outputs
source "$(dirname "$0")/lib.sh"
PIDFILE="$LOCAL/ministack.pid"

healthy() { curl -sf "$ENDPOINT/_ministack/health" >/dev/null 2>&1; }

up() {
  smtp_up
  if healthy; then log "ministack already running on $ENDPOINT"; return 0; fi
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    log "ministack (pid $(cat "$PIDFILE")) is not answering; restarting it"
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
    sleep 1
  fi
  trust_sandbox
  # What an earlier ministack on this port unpacked (see `down`) is nobody's now.
  pkill -f "ministack-provided-code-${MINISTACK_PORT}" 2>/dev/null || true
  rm -rf "${TMPDIR:-/tmp}/ministack-provided-code-${MINISTACK_PORT}"
  log "starting ministack on $ENDPOINT (log: .local/ministack.log)"
  # Every Lambda process ministack starts inherits its environment: AWS_ENDPOINT_URL points
  # the functions' AWS SDK at the local stack, SSL_CERT_FILE makes them trust the Zoom
  # sandbox's CA as well as the system's.
  # Async retries spaced like AWS's (1 and 2 minutes), scaled down but still longer than the
  # producer's 30 s lease, so a retry after a crash finds the lease lapsed.
  # Bedrock's Converse goes to the LLM sandbox (started by the tests and the demo).
  MINISTACK_BEDROCK_PROXY_URL="http://127.0.0.1:$LLM_SANDBOX_PORT" \
  LAMBDA_ASYNC_RETRY_BASE_SECONDS=35 LAMBDA_ASYNC_RETRY_MAX_SECONDS=70 \
  GATEWAY_PORT="$MINISTACK_PORT" AWS_ENDPOINT_URL="$ENDPOINT" SSL_CERT_FILE="$LOCAL/ca-bundle.pem" \
    nohup "$VENV/ministack/bin/ministack" >"$LOCAL/ministack.log" 2>&1 3>&- &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    if healthy; then return 0; fi
    sleep 0.5
  done
  echo "ministack did not become healthy; see .local/ministack.log" >&2
  tail -n 30 "$LOCAL/ministack.log" >&2 || true
  return 1
}

# The sandbox CA is made once per checkout; the bundle adds it to the system's roots.
trust_sandbox() {
  (cd "$ROOT" && cargo build -q -p zoom-sandbox)
  "$ROOT/target/debug/zoom-sandbox" ca --cert-dir "$SANDBOX_CA_DIR" >/dev/null
  local system=/etc/ssl/certs/ca-certificates.crt
  { [[ -f "$system" ]] && cat "$system"; cat "$SANDBOX_CA_DIR/cert.pem"; } >"$LOCAL/ca-bundle.pem"
}

# The local SMTP server: a real one (aiosmtpd) that keeps what it receives in .local/mail.
smtp_up() {
  local pidfile="$LOCAL/smtp.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
  mkdir -p "$MAIL_DIR"
  # 3>&-: a long-lived server must not keep a caller's lock (`flock file make deploy`) open.
  nohup "$VENV/ministack/bin/python" "$ROOT/scripts/smtp_sink.py" "$MAIL_DIR" "$SMTP_PORT" >"$LOCAL/smtp.log" 2>&1 3>&- &
  echo $! >"$pidfile"
  for _ in $(seq 1 40); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null; then return 0; fi
    sleep 0.25
  done
  echo "the SMTP server did not start; see .local/smtp.log" >&2
  return 1
}

down() {
  if [[ -f "$LOCAL/smtp.pid" ]]; then
    kill "$(cat "$LOCAL/smtp.pid")" 2>/dev/null || true
    rm -f "$LOCAL/smtp.pid"
  fi
  if [[ -f "$PIDFILE" ]]; then
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
    rm -f "$PIDFILE"
  fi
  # Function processes ministack started outlive it; they belong to no one now. So does the
  # code it unpacked for them (each deploy's binaries, ~75 MB a function; gigabytes after a
  # day of deploys): a fresh ministack unpacks what it runs again.
  pkill -f "ministack-provided-code-${MINISTACK_PORT}" 2>/dev/null || true
  rm -rf "${TMPDIR:-/tmp}/ministack-provided-code-${MINISTACK_PORT}"
  log "ministack stopped"
}

# Local-only secret values, generated once per checkout and kept out of git (.local/).
local_secret() { # name
  local f="$LOCAL/secret-$1"
  [[ -s "$f" ]] || (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$f")
  cat "$f"
}

deploy() {
  up
  local arch; arch="$(host_arch)"
  local zoom_secret; zoom_secret="$(local_secret zoom-webhook)"
  # What both stacks share: the Zoom sandbox, the SMTP server, the schedule and the logs.
  local params=(
    "Architecture=$arch"
    "ZoomWebhookSecretToken=$zoom_secret"
    "ZoomAllowedHosts=zoom.us,zoom.com,zoomgov.com,localhost"
    "ZoomOAuthUrl=https://localhost:$SANDBOX_PORT/oauth/token"
    "ZoomApiBase=https://localhost:$SANDBOX_PORT"
    # The sandbox's own fixed S2S credentials (not secrets: they open nothing but the sandbox).
    "ZoomS2SAccountId=sandbox-account"
    "ZoomS2SClientId=sandbox-client-id"
    "ZoomS2SClientSecret=sandbox-client-secret"
    "LocalStackPort=$MINISTACK_PORT"
    "SymblBusyRetrySeconds=3"
    # Sandboxes stop with the tests that started them; their unfinished jobs must not hold
    # slots for half an hour.
    "SymblJobDeadlineSlackSeconds=60"
    'ReconcileSchedule="rate(2 minutes)"'
    # The local SMTP server (plain SMTP on loopback, no credentials).
    "SmtpHost=127.0.0.1"
    "SmtpPort=$SMTP_PORT"
    "SmtpSecurity=none"
    "SmtpFrom=insights@zoom-symbl.local"
    # DEBUG locally (LOG_LEVEL=INFO to change): the log scan after the e2e suite then proves
    # no secret, token or signed URL reaches a log line even at this level.
    "LogLevel=${LOG_LEVEL:-DEBUG}"
  )
  local symbl=(
    "InsightsProvider=symbl"
    # The Symbl sandbox and its fixed local credentials.
    "SymblBaseUrl=http://127.0.0.1:$SYMBL_SANDBOX_PORT"
    "SymblAppId=sandbox-app-id"
    "SymblAppSecret=sandbox-app-secret"
    # A small account limit, so the load tests show it holding (the sandbox itself allows more).
    "SymblConcurrencyLimit=5"
  )
  local aws=(
    "InsightsProvider=aws"
    # Small, so a test can hold every slot and a meeting waits.
    "TranscribeConcurrencyLimit=8"
  )
  log "sam build ($arch, ${STACK_PROFILE:-debug} profile: the local stack runs native host binaries)"
  (cd "$ROOT" && PATH="$VENV/sam/bin:$PATH" FFMPEG_LOCAL_PATH="$(command -v ffmpeg)" SAM_BUILD_MODE="$([[ "${STACK_PROFILE:-}" == release ]] || echo "${SAM_BUILD_MODE:-debug}")" "$VENV/sam/bin/sam" build \
      --parameter-overrides "Architecture=$arch" >"$LOCAL/sam-build.log" 2>&1) \
    || { tail -n 40 "$LOCAL/sam-build.log" >&2; return 1; }
  deploy_stack "$STACK_NAME" "${params[@]}" "${symbl[@]}"
  deploy_stack "$AWS_STACK_NAME" "${params[@]}" "${aws[@]}"
  write_outputs
}

deploy_stack() { # name parameter...
  local name="$1"; shift
  log "sam deploy to $ENDPOINT (stack $name)"
  (cd "$ROOT" && AWS_ENDPOINT_URL="$ENDPOINT" "$VENV/sam/bin/sam" deploy \
      --template-file .aws-sam/build/template.yaml --stack-name "$name" --resolve-s3 \
      --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-confirm-changeset \
      --no-fail-on-empty-changeset --region us-east-1 \
      --parameter-overrides "$@" >"$LOCAL/sam-deploy-$name.log" 2>&1) \
    || { tail -n 40 "$LOCAL/sam-deploy-$name.log" >&2; return 1; }
}

write_outputs() {
  outputs_of "$STACK_NAME" stack.json
  outputs_of "$AWS_STACK_NAME" stack-aws.json
}

outputs_of() { # stack file
  ZOOM_SECRET="$(local_secret zoom-webhook)" SANDBOX_PORT="$SANDBOX_PORT" SYMBL_SANDBOX_PORT="$SYMBL_SANDBOX_PORT" LLM_SANDBOX_PORT="$LLM_SANDBOX_PORT" MAIL_DIR="$MAIL_DIR" SANDBOX_CA_DIR="$SANDBOX_CA_DIR" ENDPOINT="$ENDPOINT" STACK_NAME="$1" \
    "$VENV/ministack/bin/python" "$ROOT/scripts/stack_outputs.py" >"$LOCAL/$2.tmp"
  mv "$LOCAL/$2.tmp" "$LOCAL/$2"
  log "stack $1's outputs in .local/$2"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  deploy) deploy ;;
  outputs) write_outputs ;;
  status) healthy && echo "ministack: healthy on $ENDPOINT" || echo "ministack: not running"; cat "$LOCAL/stack.json" "$LOCAL/stack-aws.json" 2>/dev/null || true ;;
  *) echo "usage: $0 up|deploy|down|status|outputs" >&2; exit 2 ;;
esac
