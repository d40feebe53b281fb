#!/usr/bin/env python3
"""The reconciler at scale, on the local stack (`make bench-reconcile`).

    reconcile.py [SIZES]      (default: 1000,10000)

For each size N the meetings table is filled to N meetings that owe nothing (final and
settled: the steady state of a retained history) plus DUE meetings that do (failed, their
failure email owed), then the deployed notifier is invoked as its schedule invokes it, twice:
the first run has work, the second has none. Reported per size:

  - each run's wall time (the synchronous invoke, on the local stack);
  - the read units of one run's queries, computed from the bytes they read (DynamoDB bills an
    eventually consistent read 0.5 units per 4 KB of each page's items; ministack reports a
    flat 0.5 per call, so the bytes are counted here, from the items the queries return);
  - the same for the three full-table scans the reconciler made before the `by_due` index,
    as the baseline, measured on the same table in the same script.

Then both are computed for 100,000 meetings and a month of runs every five minutes. Writes
target/bench/reconcile.json and prints a summary. Removes its meetings afterwards.
"""
import json
import math
import os
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK = json.load(open(os.path.join(ROOT, ".local", "stack.json")))
OUT = STACK["outputs"]
ENDPOINT = STACK["endpoint"]
REGION = STACK["region"]
DUE = 10
PREFIX = "bench-reconcile-"
RUNS_PER_MONTH = 30 * 24 * 12
# What one run queries: the four healed states, the two stalled ones and the owed failure
# emails on the meetings table, every job state on the jobs table.
MEETING_STATES = ["received", "dispatched", "produced", "queued", "producing", "retrying", "failed"]
JOB_STATES = ["scheduled", "in_progress", "completed", "failed"]

session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
ddb = session.client("dynamodb", endpoint_url=ENDPOINT)
lam = session.client("lambda", endpoint_url=ENDPOINT, config=boto3.session.Config(read_timeout=900))


def size_of(value):
    """DynamoDB's item size rules, closely enough for billing estimates."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return 1 + math.ceil(len(v.lstrip("-").replace(".", "")) / 2)
    if kind == "BOOL" or kind == "NULL":
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + size_of(x) for k, x in v.items())
    if kind == "L":
        return 3 + sum(1 + size_of(x) for x in v)
    return len(json.dumps(v))


def item_size(item):
    return sum(len(k.encode()) + size_of(v) for k, v in item.items())


def page_units(items):
    return 0.5 * max(1, math.ceil(sum(item_size(i) for i in items) / 4096))


def settled(i):
    """A meeting as a retained, finished one looks: its audio described, its email sent."""
    participants = [{"M": {"name": {"S": f"Participant {p}"}, "channel": {"N": str(p + 1)},
                            "original_key": {"S": f"meetings/{PREFIX}{i}/originals/{p:02d}-x.m4a"}}}
                    for p in range(4)]
    return {
        "meeting_key": {"S": f"{PREFIX}{i}"},
        "uuid": {"S": f"{PREFIX}{i}"},
        "status": {"S": "transcribed"},
        "topic": {"S": f"Weekly sync {i}"},
        "host_email": {"S": "bench@example.com"},
        "received_at": {"S": "2026-11-01T10:00:00Z"},
        "audio": {"M": {"participants": {"L": participants}, "duration_secs": {"N": "3600.000"},
                        "merged_key": {"S": f"meetings/{PREFIX}{i}/merged.wav"}}},
        "job_id": {"S": f"job-{i}"},
        "email_status": {"S": "sent"},
        "email_detail": {"S": f"<insights.{i}@zoom-symbl.local>"},
    }


def owed(i):
    return {
        "meeting_key": {"S": f"{PREFIX}due-{i}"},
        "status": {"S": "failed"},
        "topic": {"S": f"Bench owed {i}"},
        "host_email": {"S": "bench@example.com"},
        "received_at": {"S": "2026-11-01T10:00:00Z"},
        "failure_reason": {"S": "the audio could not be prepared (bench)"},
        "due_at": {"N": str(int(time.time()) - 60)},
    }


def write(items):
    table = OUT["MeetingsTableName"]
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": it}} for it in items[start:start + 25]]
        pending = {table: batch}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None


def delete(keys):
    table = OUT["MeetingsTableName"]
    for start in range(0, len(keys), 25):
        batch = [{"DeleteRequest": {"Key": {"meeting_key": {"S": k}}}} for k in keys[start:start + 25]]
        pending = {table: batch}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None


def reconcile():
    started = time.monotonic()
    out = lam.invoke(FunctionName=OUT["NotifierFunctionName"],
                     Payload=json.dumps({"detail-type": "Scheduled Event", "source": "aws.events"}))
    elapsed = time.monotonic() - started
    reply = out["Payload"].read().decode()
    if out.get("FunctionError"):
        sys.exit(f"the reconciler failed: {reply}")
    return elapsed, reply


def query_units():
    """One run's queries, as the reconciler makes them, billed by the bytes they read."""
    units, calls = 0.0, 0
    now = int(time.time())
    for table, states in ((OUT["MeetingsTableName"], MEETING_STATES), (OUT["JobsTableName"], JOB_STATES)):
        for state in states:
            kwargs = dict(TableName=table, IndexName="by_due",
                          KeyConditionExpression="#st = :st AND #due < :now",
                          ExpressionAttributeNames={"#st": "status", "#due": "due_at"},
                          ExpressionAttributeValues={":st": {"S": state}, ":now": {"N": str(now)}})
            while True:
                page = ddb.query(**kwargs)
                units += page_units(page["Items"])
                calls += 1
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return units, calls


def scan_units():
    """One full scan of the meetings table, paged at DynamoDB's 1 MB, billed by the bytes read."""
    units, pages, items, total_bytes = 0.0, 0, 0, 0
    kwargs = dict(TableName=OUT["MeetingsTableName"])
    while True:
        page = ddb.scan(**kwargs)
        # A scan is billed for every item it reads, before any filter.
        units += page_units(page["Items"])
        pages += 1
        items += len(page["Items"])
        total_bytes += sum(item_size(i) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return units, pages, items, total_bytes


def main():
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "1000,10000").split(",")]
    results, written = [], 0
    try:
        for n in sizes:
            write([settled(i) for i in range(written, n)])
            written = max(written, n)
            write([owed(i) for i in range(DUE)])
            busy_s, busy_reply = reconcile()
            idle_s, idle_reply = reconcile()
            q_units, q_calls = query_units()
            s_units, s_pages, s_items, s_bytes = scan_units()
            results.append({
                "meetings": n, "due": DUE,
                "run_with_due_s": round(busy_s, 2), "run_with_due": busy_reply,
                "run_idle_s": round(idle_s, 2), "run_idle": idle_reply,
                "query_read_units_per_run": q_units, "query_calls_per_run": q_calls,
                "scan_read_units_per_run": 3 * s_units, "scan_pages": s_pages,
                "table_items": s_items, "mean_item_bytes": round(s_bytes / max(1, s_items)),
            })
            print(f"{n:>6} meetings: run with {DUE} due {busy_s:.2f} s ({busy_reply}), idle {idle_s:.2f} s; "
                  f"queries {q_units} read units in {q_calls} calls; the three scans {3 * s_units} read units")
            delete([f"{PREFIX}due-{i}" for i in range(DUE)])
    finally:
        delete([f"{PREFIX}{i}" for i in range(written)] + [f"{PREFIX}due-{i}" for i in range(DUE)])
    last = results[-1]
    per_item = last["mean_item_bytes"]
    scan_100k = 3 * 0.5 * math.ceil(100_000 * per_item / 4096)
    query_100k = last["query_read_units_per_run"]  # the index holds only what is due, whatever N is
    summary = {
        "at_100k": {
            "scan_read_units_per_run": scan_100k, "query_read_units_per_run": query_100k,
            "scan_read_units_per_month": scan_100k * RUNS_PER_MONTH,
            "query_read_units_per_month": query_100k * RUNS_PER_MONTH,
            "ratio_scan_to_query": round(scan_100k / query_100k, 1),
        },
        "sizes": results,
    }
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "reconcile.json"), "w") as f:
        json.dump(summary, f, indent=2)
    a = summary["at_100k"]
    print(f"100,000 meetings ({per_item} B each): scans {a['scan_read_units_per_month']:,.0f} read units a month, "
          f"queries {a['query_read_units_per_month']:,.0f} ({a['ratio_scan_to_query']}x fewer)")


if __name__ == "__main__":
    main()
