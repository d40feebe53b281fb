"""Fails if any secret appears in the local stack's function logs.

Run after the end-to-end suite (`make e2e` does): reads every /aws/lambda/* log group from
the local stack's CloudWatch Logs, plus ministack's own log (which echoes async invocations'
output), and looks for
  - every value of the deployment's secret (Secrets Manager) and the local secret files;
  - token shapes: JWTs (Zoom download and OAuth tokens, Symbl access tokens), bearer
    headers, access_token/client_secret parameters;
  - presigned URL signatures (X-Amz-Signature=, Signature=).
It also fails when a function's log line logged inside an invocation (any span open) lacks
the Lambda runtime's `requestId`: a line must be traceable to its request.
Findings are reported by kind and location, never with the secret itself.
"""

import json
import os
import re
import sys
from pathlib import Path

import boto3

PATTERNS = {
    "JWT-shaped token": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "presigned URL signature": re.compile(r"X-Amz-Signature=[0-9a-f]{16,}|[?&]Signature=[A-Za-z0-9%+/=]{16,}"),
    "bearer credential": re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]{12,}"),
    "access_token parameter": re.compile(r"access_token=[A-Za-z0-9._~+/=-]{8,}"),
    "client secret": re.compile(r"client_secret[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9._~+/=-]{8,}"),
}


def findings(text, secrets):
    """(kind, offset) of everything in `text` that looks like or is a secret."""
    out = []
    for name, value in secrets.items():
        i = text.find(value)
        if i >= 0:
            out.append((f"secret '{name}'", i))
    for kind, rx in PATTERNS.items():
        m = rx.search(text)
        if m:
            out.append((kind, m.start()))
    return out


def without_request_id(text):
    """(tracing lines inside a span, how many of them lack the runtime's requestId)."""
    in_span = missing = 0
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or "level" not in rec or not rec.get("spans"):
            continue
        in_span += 1
        if not any(isinstance(sp, dict) and sp.get("requestId") for sp in rec["spans"]):
            missing += 1
    return in_span, missing


def self_test():
    """The scanner must be able to fail: planted secrets are found, plain logs are not."""
    planted = {"smtp_password": "hunter2-but-longer"}
    log = '{"level":"INFO","message":"sent","password":"hunter2-but-longer"}'
    assert [k for k, _ in findings(log, planted)] == ["secret 'smtp_password'"], findings(log, planted)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLXNpZw"
    assert findings(f"token {jwt} rejected", {})[0][0] == "JWT-shaped token"
    url = "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" + "ab12" * 16
    assert findings(url, {})[0][0] == "presigned URL signature"
    clean = '{"level":"INFO","fields":{"message":"queued for the consumer","meeting_key":"abc"}}'
    assert findings(clean, planted) == []
    with_id = '{"level":"INFO","fields":{},"spans":[{"name":"Lambda runtime invoke","requestId":"r1"},{"name":"x"}]}'
    no_id = '{"level":"INFO","fields":{},"spans":[{"name":"recording_completed"}]}'
    assert without_request_id(f"{with_id}\n{no_id}\nplain text") == (2, 1)


def main():
    self_test()
    root = Path(__file__).resolve().parent.parent
    stack = json.loads((root / ".local/stack.json").read_text())
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=stack["region"])
    endpoint = stack["endpoint"]

    secrets = {}
    sm = session.client("secretsmanager", endpoint_url=endpoint)
    # Every deployed secret (one per concern): each output named ...SecretArn.
    for output, arn in stack["outputs"].items():
        if not output.endswith("SecretArn"):
            continue
        deployed = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
        for k, v in deployed.items():
            if isinstance(v, str) and len(v) >= 6:
                secrets[k] = v
    for f in (root / ".local").glob("secret-*"):
        v = f.read_text().strip()
        if len(v) >= 6:
            secrets[f.name] = v

    logs = session.client("logs", endpoint_url=endpoint)
    sources = {}
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/lambda/"):
        for g in page["logGroups"]:
            events = []
            kwargs = {"logGroupName": g["logGroupName"]}
            while True:
                out = logs.filter_log_events(**kwargs)
                events.extend(e["message"] for e in out.get("events", []))
                token = out.get("nextToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
            sources[g["logGroupName"]] = "\n".join(events)
    ministack_log = root / ".local/ministack.log"
    if ministack_log.exists():
        sources[str(ministack_log.relative_to(root))] = ministack_log.read_text(errors="replace")

    logged = {name: len(text.splitlines()) for name, text in sources.items()}
    # Nothing to scan would pass vacuously: every function must have logged.
    groups = [n for n in sources if n.startswith("/aws/lambda/") and logged[n] > 0]
    if len(groups) < 5:
        print(f"scan_logs: only {len(groups)} function log groups have events ({groups}); expected all five", file=sys.stderr)
        return 1

    bad = []
    traced = 0
    for name in groups:
        in_span, missing = without_request_id(sources[name])
        traced += in_span
        if in_span == 0:
            bad.append(f"{name}: no log line carries the runtime's requestId")
        elif missing:
            bad.append(f"{name}: {missing} of {in_span} lines inside an invocation lack the runtime's requestId")
    for name, text in sources.items():
        for kind, offset in findings(text, secrets):
            line = text.count("\n", 0, offset) + 1
            bad.append(f"{name}:{line}: {kind}")
    total = sum(logged.values())
    if bad:
        print(f"scan_logs: {len(bad)} findings in {total} lines:", file=sys.stderr)
        print("\n".join(f"  {b}" for b in bad), file=sys.stderr)
        return 1
    print(f"scan_logs: {total} log lines ({len(groups)} function log groups and ministack's log) "
          f"checked against {len(secrets)} secret values and {len(PATTERNS)} token shapes: clean; "
          f"all {traced} lines logged inside an invocation carry its requestId")
    return 0


if __name__ == "__main__":
    sys.exit(main())
