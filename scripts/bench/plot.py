#!/usr/bin/env python3
"""Plots merge time against meeting size from `producer-bench`'s results.

    .venv/bench/bin/python scripts/bench/plot.py [target/bench/merge.json] [docs/bench/merge.png]

Set up once: python3 -m venv .venv/bench && .venv/bench/bin/pip install -r scripts/requirements-bench.txt

Meeting size is in participant-hours (participants x scheduled minutes / 60); each point is
labelled NxMINUTES. Three series, all measured in the same run per size: ours (webhook to
queued on the local stack), the floor (ffmpeg decoding the same inputs from local disk to
null) and the baseline (the Python original's approach, scripts/bench/baseline.py).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main() -> int:
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/bench/merge.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs/bench/merge.png")
    with open(src) as f:
        doc = json.load(f)
    sizes = sorted(doc["sizes"], key=lambda s: s["participant_hours"])
    if not sizes:
        print(f"{src}: no sizes measured", file=sys.stderr)
        return 1

    def series(get):
        pts = [(s["participant_hours"], get(s), s["label"]) for s in sizes]
        return [p for p in pts if isinstance(p[1], (int, float))]

    lines = [
        ("baseline (Python original: 2x download, amerge to AAC)", series(lambda s: (s.get("baseline") or {}).get("wall_s")), "tab:red", "s"),
        ("ours (producer, webhook to queued)", series(lambda s: s["ours"]["wall_s"]), "tab:blue", "o"),
        ("floor (ffmpeg decode from local disk to null)", series(lambda s: s["floor"]["wall_s"]), "tab:gray", "^"),
        ("floor, one ffmpeg per input in parallel", series(lambda s: (s.get("floor_parallel") or {}).get("wall_s")), "silver", "v"),
    ]
    fig, ax = plt.subplots(figsize=(8, 5.2), dpi=120)
    for name, pts, color, marker in lines:
        if not pts:
            continue
        xs, ys, labels = zip(*pts)
        style = ":" if color == "silver" else "-"
        ax.plot(xs, ys, marker=marker, color=color, label=name, linewidth=1.8, linestyle=style)
        for x, y, label in pts:
            ax.annotate(f"{y:.1f} s", (x, y), textcoords="offset points", xytext=(6, -3), fontsize=8, color=color)
    # The floor's 1.2x target as a band, where the floor was measured.
    floor = series(lambda s: s["floor"]["wall_s"])
    if floor:
        xs, ys, _ = zip(*floor)
        ax.fill_between(xs, ys, [1.2 * y for y in ys], color="tab:gray", alpha=0.2, label="target: within 1.2x the floor")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [s["participant_hours"] for s in sizes]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{s['label']}\n{s['participant_hours']:.3g} p-h" for s in sizes], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("meeting size (participants x minutes; participant-hours)")
    ax.set_ylabel("wall time (s, log scale)")
    builds = sorted({str(s["ours"].get("producer_build")) for s in sizes})
    host = doc.get("host", {})
    ax.set_title(
        f"Merge path: time vs meeting size (local stack, producer {'/'.join(builds)} build, {host.get('cpus', '?')} CPUs)",
        fontsize=10,
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    fig.savefig(dst)
    print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
