#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-* from events/*.json.

The seeds are committed; run this again after changing a sample event. Input formats are
described at the top of each fuzz target. Deterministic: same events, same files.
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
CORPUS = ROOT / "fuzz" / "corpus"


def load(name):
    return json.loads((EVENTS / name).read_text())


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write(target, name, data):
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seed-{name}").write_bytes(data.encode() if isinstance(data, str) else data)


def zoom(name, mode, headers, body):
    """`<mode><header lines>\\n\\n<body>`; the blank line is always there, even with no headers."""
    block = "".join(f"{k}: {v}\n" for k, v in headers.items())
    write("zoom_webhook", name, f"{mode}{block}\n{body}")


def symbl(name, mode, token, body):
    """`<mode><t values, TAB-separated>\\n<body>`."""
    write("symbl_webhook", name, f"{mode}{token}\n{body}")


def zoom_seeds():
    apigw = load("zoom-webhook-apigw.json")
    zm = {k: v for k, v in apigw["headers"].items() if k.startswith("x-zm-")}
    zoom("apigw-url-validation-raw", "0", zm, apigw["body"])
    zoom("apigw-url-validation-resigned", "1", zm, apigw["body"])
    zoom("apigw-url-validation-now", "2", {}, apigw["body"])
    stale = dict(zm, **{"x-zm-request-timestamp": "1701460000"})
    zoom("apigw-url-validation-stale", "1", stale, apigw["body"])
    upper = {k.upper(): v for k, v in zm.items()}
    zoom("apigw-url-validation-upper-headers", "0", upper, apigw["body"])

    text = (EVENTS / "zoom-recording-completed.json").read_text()
    rec = json.loads(text)
    tracking = {"x-zm-trackingid": zm["x-zm-trackingid"]}
    zoom("recording-completed-pretty", "2", tracking, text)
    zoom("recording-completed", "2", {}, compact(rec))
    zoom("recording-completed-unsigned", "0", {}, compact(rec))
    zoom("recording-completed-stale", "1", {"x-zm-request-timestamp": "1701460000"}, compact(rec))

    lenient = json.loads(text)
    obj = lenient["payload"]["object"]
    obj["id"] = str(obj["id"])
    obj["total_size"] = str(obj.get("total_size", 0))
    for f in obj.get("participant_audio_files", []):
        f["file_size"] = str(f.get("file_size", 0))
    obj["future_field"] = {"x": [1, None, True]}
    zoom("recording-completed-strings", "2", {}, compact(lenient))

    for label, host in [("evil-host", "https://evil.example.com/"), ("http", "http://us02web.zoom.us/"),
                        ("userinfo", "https://a:b@us02web.zoom.us/")]:
        bad = json.loads(text)
        files = bad["payload"]["object"]["recording_files"]
        files[0]["download_url"] = host + "rec/webhook_download/x"
        zoom(f"recording-completed-{label}", "2", {}, compact(bad))

    job = load("producer-job.json")
    if job["event"] != rec:  # today the same event as zoom-recording-completed.json
        zoom("producer-job-event", "2", {}, compact(job["event"]))
    zoom("meeting-started", "2", {}, '{"event":"meeting.started","payload":{"object":{"id":1}}}')
    zoom("minimal-recording", "2", {}, '{"event":"recording.completed","payload":{"object":{"uuid":"u=="}}}')


def symbl_seeds():
    apigw = load("symbl-webhook-apigw.json")
    token = apigw["queryStringParameters"]["t"]
    body = apigw["body"]
    symbl("apigw-completed-raw", "0", token, body)
    symbl("apigw-completed-second-t", "0", token + "\tother", body)
    symbl("apigw-completed-wrong-token", "0", token[:-1] + "x", body)
    symbl("apigw-completed-no-token", "2", "", body)
    symbl("apigw-completed-oversized", "3", "", body)
    job_id = json.loads(body)["jobId"]
    for status in ["scheduled", "in_progress", "completed", "failed"]:
        symbl(f"id-{status}", "1", "", compact({"id": job_id, "status": status}))
    # serde's derive also reads the struct positionally; the handler accepts it (fuzz/README.md).
    symbl("positional-array", "1", "", compact([job_id, "completed"]))
    symbl("unknown-job", "1", "", compact({"jobId": "other", "status": "completed", "extra": [1]}))
    # Found by fuzzing: an ignored member may hold invalid UTF-8 (serde skips it unchecked).
    write("symbl_webhook", "invalid-utf8-in-ignored-member",
          b'1\n{"jobId":"other","status":"completed","extra":"\x82"}')
    # serde_json's externally tagged form of a unit variant is a status too.
    symbl("status-as-tagged-unit", "1", "", compact({"id": job_id, "status": {"failed": None}}))
    # The notifier's own payload is not a callback (job_id, not id/jobId).
    symbl("notifier-status", "1", "", (EVENTS / "notifier-status.json").read_text())


if __name__ == "__main__":
    zoom_seeds()
    symbl_seeds()
    for target in sorted(CORPUS.iterdir()):
        print(f"{target.name}: {len(list(target.iterdir()))} seeds")
