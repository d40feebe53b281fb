#!/usr/bin/env bash
# The whole pipeline on the local stack: the Zoom sandbox records a 3-person meeting and sends
# the signed recording.completed webhook; the insights come from the aws provider (Transcribe
# and Bedrock on the local stack, the LLM sandbox answering for the model) or, with
# PROVIDER=symbl, from the Symbl sandbox; the host's email lands in the local SMTP server and
# is printed here, with where the audio, transcript and insights are.
source "$(dirname "$0")/lib.sh"
PROVIDER="${PROVIDER:-aws}"
case "$PROVIDER" in
  aws) STACK_JSON="$LOCAL/stack-aws.json" ;;
  symbl) STACK_JSON="$LOCAL/stack.json" ;;
  *) echo "PROVIDER must be aws or symbl" >&2; exit 2 ;;
esac
[[ -f "$STACK_JSON" ]] || { echo "no deployed stack; run: make deploy" >&2; exit 1; }
PY="$VENV/ministack/bin/python"
url="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["zoom_webhook_url"])' "$STACK_JSON")"

(cd "$ROOT" && cargo build -q -p zoom-sandbox -p symbl-sandbox -p llm-sandbox)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

if [[ "$PROVIDER" == symbl ]]; then
  log "Symbl sandbox on 127.0.0.1:$SYMBL_SANDBOX_PORT"
  "$ROOT/target/debug/symbl-sandbox" serve --bind "127.0.0.1:$SYMBL_SANDBOX_PORT" --app-secret sandbox-app-secret \
    >"$LOCAL/symbl-sandbox.log" 2>&1 &
else
  log "LLM sandbox on 127.0.0.1:$LLM_SANDBOX_PORT (the local Bedrock forwards Converse to it)"
  "$ROOT/target/debug/llm-sandbox" --listen "127.0.0.1:$LLM_SANDBOX_PORT" >"$LOCAL/llm-sandbox.log" 2>&1 &
fi
pids+=($!)

mkdir -p "$LOCAL/demo"
started="$(date +%s.%N)"
log "Zoom sandbox: recording a 3-participant meeting, sending recording.completed to $url"
ZOOM_WEBHOOK_SECRET="$(cat "$LOCAL/secret-zoom-webhook")" ZOOM_S2S_ACCOUNT_ID=sandbox-account \
  ZOOM_S2S_CLIENT_ID=sandbox-client-id ZOOM_S2S_CLIENT_SECRET=sandbox-client-secret \
  "$ROOT/target/debug/zoom-sandbox" record --bind "127.0.0.1:$SANDBOX_PORT" --cert-dir "$SANDBOX_CA_DIR" \
  --participants 3 --duration-secs 60 --webhook-url "$url" --data-dir "$LOCAL/demo" \
  >"$LOCAL/demo/record.json" 2>"$LOCAL/zoom-sandbox.log" &
pids+=($!)

STACK_JSON="$STACK_JSON" STARTED="$started" RECORD="$LOCAL/demo/record.json" MAIL_DIR="$MAIL_DIR" "$PY" - <<'PY'
import email, email.policy, glob, json, os, sys, time

import boto3

stack = json.load(open(os.environ["STACK_JSON"]))
started = float(os.environ["STARTED"])
deadline = time.time() + 300

def wait(what, probe):
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    sys.exit(f"gave up waiting for {what}; see .local/*.log and `make status`")

record = wait("the Zoom sandbox", lambda: open(os.environ["RECORD"]).read().strip())
record = json.loads(record.splitlines()[0])
print(f"webhook answered {record['webhook_status']}: {record['webhook_response']}")
uuid = record["uuid"]

ddb = boto3.client("dynamodb", endpoint_url=stack["endpoint"], region_name=stack["region"],
                   aws_access_key_id="test", aws_secret_access_key="test")
import base64
key = base64.urlsafe_b64encode(uuid.encode()).decode().rstrip("=")

def meeting():
    item = ddb.get_item(TableName=stack["outputs"]["MeetingsTableName"], Key={"meeting_key": {"S": key}},
                        ConsistentRead=True).get("Item")
    return item

def emailed():
    m = meeting()
    return m if m and m.get("email_status") else None

m = wait("the host's email", emailed)
elapsed = time.time() - started
mails = sorted(glob.glob(os.path.join(os.environ["MAIL_DIR"], "*.eml")), key=os.path.getmtime)
msg = email.message_from_bytes(open(mails[-1], "rb").read(), policy=email.policy.default)
print("\n================ the host's email ================")
for h in ("From", "To", "Subject", "Content-Type"):
    print(f"{h}: {msg[h]}")
print()
print(msg.get_body(preferencelist=("plain",)).get_content())
print("==================================================\n")
audio = m["audio"]["M"]
print(f"provider:         {stack['outputs'].get('InsightsProvider', 'symbl')}")
print(f"meeting status:   {m['status']['S']} (email {m['email_status']['S']})")
bucket = audio['merged_bucket']['S']
if "speech" in audio:
    prefix = audio['mixdown_key']['S'].rsplit("/", 1)[0]
    for t in audio["speech"]["L"]:
        t = t["M"]
        flac = t.get("flac_key", {}).get("S")
        print(f"speech {t['name']['S'] + ':':<18}{float(t['talk_seconds']['N']):.1f} s talking"
              + (f", s3://{bucket}/{flac}" if flac else ", never spoke (no job)"))
    print(f"transcript:       s3://{bucket}/{prefix}/transcript.json and transcript.vtt")
else:
    print(f"merged audio:     s3://{bucket}/{audio['merged_key']['S']} "
          f"({audio['channels']['N']} channels, {float(audio['duration_secs']['N']):.0f} s)")
print(f"mixdown:          s3://{audio['merged_bucket']['S']}/{audio['mixdown_key']['S']}")
for name, k in sorted(m.get("insights", {}).get("M", {}).items()):
    print(f"insights {name + ':':<16}s3://{audio['merged_bucket']['S']}/{k['S']}")
print(f"summary page:     {m.get('summary_url', {}).get('S', '-')}")
print(f"the email file:   {mails[-1]}")
print(f"\nfrom Zoom's webhook to the host's email: {elapsed:.1f} s")
PY
