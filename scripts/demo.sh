#!/usr/bin/env bash
# The pipeline on the local stack: the Zoom sandbox records a 3-person meeting, sends the
# signed recording.completed webhook to the deployed zoom-webhook, and we show what happened.
source "$(dirname "$0")/lib.sh"
STACK_JSON="$LOCAL/stack.json"
[[ -f "$STACK_JSON" ]] || { echo "no deployed stack; run: make deploy" >&2; exit 1; }
url="$("$VENV/ministack/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["zoom_webhook_url"])' "$STACK_JSON")"

log "Zoom sandbox: recording a 3-participant meeting and sending recording.completed to $url"
cargo build -q -p zoom-sandbox
ZOOM_WEBHOOK_SECRET="$(cat "$LOCAL/secret-zoom-webhook")" \
  "$ROOT/target/debug/zoom-sandbox" record --participants 3 --duration-secs 60 \
  --webhook-url "$url" --data-dir "$LOCAL/demo" --cert-dir "$LOCAL/demo" --exit-after-secs 20 | tee "$LOCAL/demo/record.json"

log "meeting record in DynamoDB"
STACK_JSON="$STACK_JSON" "$VENV/ministack/bin/python" - <<'PY'
import json, os, boto3
s = json.load(open(os.environ["STACK_JSON"]))
ddb = boto3.client("dynamodb", endpoint_url=s["endpoint"], region_name=s["region"],
                   aws_access_key_id="test", aws_secret_access_key="test")
items = ddb.scan(TableName=s["outputs"]["MeetingsTableName"])["Items"]
items.sort(key=lambda i: i.get("received_at", {}).get("S", ""))
if not items:
    raise SystemExit("no meeting was recorded")
print(json.dumps({k: list(v.values())[0] for k, v in items[-1].items()}, indent=2, ensure_ascii=False))
PY
