#!/usr/bin/env python3
"""The Python original's merge approach, reproduced as a benchmark baseline (stdlib only).

    baseline.py MANIFEST.json

MANIFEST (written by `producer-bench`):
    {"tracks": [{"url": "https://localhost:8443/rec/webhook_download/ID", "name": "...", "size": N}, ...],
     "token": "<download token>", "cafile": "<the Zoom sandbox's CA certificate>",
     "workdir": "<optional; default: a fresh directory in the temp dir, like Lambda's /tmp>",
     "keep": false}

What it does, as the original did: every participant track is downloaded fully to disk, one
after another, and then all of them again (the original fetched each file twice: once to
archive it, once to merge it; both copies stay in /tmp, which it never cleaned). Then one
ffmpeg command merges the inputs with a plain `amerge` (no alignment: the output stops at
the shortest input) and encodes AAC into an .m4a.

Prints one JSON object on stdout:
    {"wall_s", "cpu_s" (this process and its ffmpeg child), "peak_rss" (this process's peak
     plus ffmpeg's), "tmp_bytes" (everything it left in its work directory: both download
     passes and the output), "output_bytes", ... and per-stage times}
"""
import json
import os
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

CHUNK = 1 << 20


def download(url: str, token: str, ctx: ssl.SSLContext, dest: str) -> int:
    # The download link answers 302 to the file; urllib follows it with the same headers.
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=120) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out, CHUNK)
    return os.path.getsize(dest)


def dir_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def probe_duration(path: str) -> float | None:
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", path],
            capture_output=True, text=True, check=True,
        )
        return float(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    tracks = manifest["tracks"]
    token = manifest["token"]
    ctx = ssl.create_default_context(cafile=manifest.get("cafile") or None)
    workdir = manifest.get("workdir") or tempfile.mkdtemp(prefix="zs-baseline-")
    os.makedirs(workdir, exist_ok=True)

    start = time.monotonic()
    stages = {}
    passes = []
    try:
        for n, name in enumerate(("archive", "merge")):
            t = time.monotonic()
            paths = []
            for i, track in enumerate(tracks):
                dest = os.path.join(workdir, f"{name}-{i:02d}.m4a")
                download(track["url"], token, ctx, dest)
                paths.append(dest)
            stages[f"download_pass_{n + 1}_s"] = time.monotonic() - t
            passes.append(paths)

        output = os.path.join(workdir, "merged.m4a")
        inputs = passes[-1]
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        for p in inputs:
            cmd += ["-i", p]
        cmd += ["-filter_complex", f"amerge=inputs={len(inputs)}", "-c:a", "aac", output]
        t = time.monotonic()
        subprocess.run(cmd, check=True)
        stages["merge_s"] = time.monotonic() - t
        wall = time.monotonic() - start

        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        tmp_bytes = dir_bytes(workdir)
        output_bytes = os.path.getsize(output)
        result = {
            "wall_s": wall,
            "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "cpu_python_s": me.ru_utime + me.ru_stime,
            "cpu_ffmpeg_s": kids.ru_utime + kids.ru_stime,
            # ru_maxrss is in KiB on Linux; ffmpeg runs while this process is alive.
            "peak_rss": (me.ru_maxrss + kids.ru_maxrss) * 1024,
            "peak_rss_python": me.ru_maxrss * 1024,
            "peak_rss_ffmpeg": kids.ru_maxrss * 1024,
            "tmp_bytes": tmp_bytes,
            "output_bytes": output_bytes,
            "output_format": "m4a (AAC)",
            "output_duration_s": probe_duration(output),
            "tracks": len(tracks),
            "stages": stages,
        }
    finally:
        if not manifest.get("keep"):
            shutil.rmtree(workdir, ignore_errors=True)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
