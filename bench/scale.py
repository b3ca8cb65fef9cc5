"""Benchmark: rendering one job with several workers (issue 13).

Measures, on a 4-shot clip at a small size (64 px; default: the Big Buck Bunny clip of
../shared/media, 11.0-24.0 s, cuts at 11.79, 15.67 and 22.96 s, every 3rd frame):

* wall time of ``vidstyle render --workers N`` for each N (default 1 and 2), each in a fresh
  process on a fresh job, with the machine's cores as the thread budget (split between the
  workers), and the speed-up over one worker;
* the per-unit scheduling overhead: seconds spent around each unit outside the optimiser
  (manifest reads, lease, bookkeeping; not the network's one-time load), mean and max;
* the seam ratio of a chunked shot: the long shot (15.67-22.96 s, every 2nd frame) rendered
  in two chunks, the mean warping error over the pairs around the seam divided by the
  median of the shot's other pairs (issue 13's bound: at most 1.5), the same with the
  median over the seam's pairs, and the seam's mean against the same pairs of the shot
  rendered without chunks (how much of it is the seam's and how much the motion's).

Engines are columns: ``plain`` (processes on this machine) and ``ray`` (``--ray local``: a
local Ray cluster with that many CPU actors; ``--engines plain,ray``).

Usage:
  python bench/scale.py [--workers 1,2] [--engines plain] [--size 48] [--clip PATH --start S --end E --cuts C]
Results are printed as a table and written to bench/results/scale-<label>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media" / "videos"
CLIP = MEDIA / "moviepy_bbb_1280x720_vp8_vorbis_30s.webm"
STYLE = REPO / "sample_clips" / "styles" / "starry_night.jpg"
RESULTS = REPO / "bench" / "results"
SETTINGS: dict[str, Any] = {"optim": {"iterations": 60}, "temporal": {"frame_iterations": 30}, "flow": {"workers": 0}}


def _settings(size: int, **temporal: Any) -> Any:
    from vidstyle.settings import apply_overrides, preset_settings

    over = {**SETTINGS, "size": size, "styles": (str(STYLE),)}
    over["temporal"] = {**SETTINGS["temporal"], **temporal}
    return apply_overrides(preset_settings("fast"), over)


def run_plain(args: argparse.Namespace, workers: int, folder: Path, ray: str | None = None) -> dict[str, Any]:
    """One render with ``workers`` processes (or Ray actors), in a fresh Python process; its figures."""
    spec = {"clip": str(args.clip), "start": args.start, "end": args.end, "stride": args.stride, "cuts": args.cuts,
            "size": args.size, "workers": workers, "folder": str(folder), "ray": ray}  # fmt: skip
    began = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "_render", json.dumps(spec)], check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["wall_s"] = round(time.perf_counter() - began, 2)
    return row


def run_ray(args: argparse.Namespace, workers: int, folder: Path) -> dict[str, Any]:
    """The same render with ``--ray local`` (a local Ray cluster started in the child, its
    start counted in the wall time) and ``workers`` CPU actors (one per GPU where there are GPUs)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return {"available": False, "note": "Ray is not installed (pip install 'vidstyle[ray]')"}
    return run_plain(args, workers, folder, ray="local")


ENGINES = {"plain": run_plain, "ray": run_ray}


def _render(spec: dict[str, Any]) -> None:
    """In the child: the render, then one JSON line of figures."""
    from vidstyle.render import render

    folder = Path(spec["folder"])
    r = render(spec["clip"], folder / "out.mp4", _settings(spec["size"]), job=folder / "job", start=spec["start"],
               end=spec["end"], stride=spec["stride"], cuts=spec["cuts"], device="cpu", workers=spec["workers"],
               ray=spec.get("ray"))  # fmt: skip
    print(json.dumps({"frames": r.frames, "shots": r.shots, "computed": r.computed, "render_s": round(r.seconds, 2),
                      "unit_overhead_s": r.unit_overhead}))  # fmt: skip


def seam_ratio(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The long shot in two chunks: the seam's mean warping error in medians of the other pairs."""
    from vidstyle.evaluate.seams import seam_report
    from vidstyle.render import render

    st = _settings(args.size, chunk=args.chunk, chunk_overlap=args.overlap)
    began = time.perf_counter()
    r = render(args.clip, folder / "seam.mp4", st, job=folder / "seam-job", start=args.seam_start, end=args.seam_end,
               stride=args.seam_stride, cuts="none", device="cpu", workers=2)  # fmt: skip
    rep = seam_report(folder / "seam-job")
    # The same shot unchunked: how much of the error around the seam is the seam's, not the motion's.
    whole = _settings(args.size)
    render(args.clip, folder / "whole.mp4", whole, job=folder / "whole-job", start=args.seam_start, end=args.seam_end,
           stride=args.seam_stride, cuts="none", device="cpu")  # fmt: skip
    plain = seam_report(folder / "whole-job").errors[rep.seam_pairs]
    return {"frames": r.frames, "chunk": args.chunk, "overlap": args.overlap, "wall_s": round(time.perf_counter() - began, 1),
            "seam_pairs": rep.seam_pairs, "median_other": rep.median_other, "seam_mean": rep.seam_mean,
            "ratio_mean": round(rep.mean_ratio, 3), "ratio_median": round(rep.median_ratio, 3),
            "ratio_worst_pair": round(rep.ratio, 3), "unchunked_seam_mean": float(plain.mean()),
            "vs_unchunked": round(rep.seam_mean / float(plain.mean()), 3),
            "errors": [round(float(e), 7) for e in rep.errors]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=CLIP)
    p.add_argument("--start", default="11.0")
    p.add_argument("--end", default="24.0")
    p.add_argument("--stride", type=int, default=3)
    p.add_argument("--cuts", default="11.79,15.67,22.96")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--engines", default="plain")
    p.add_argument("--seam-start", default="15.67")
    p.add_argument("--seam-end", default="22.9")
    p.add_argument("--seam-stride", type=int, default=2)
    p.add_argument("--chunk", type=int, default=45)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--no-seam", action="store_true")
    p.add_argument("--label", default="cpu")
    args = p.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="vidstyle-scale-") as tmp:
        for engine in args.engines.split(","):
            rows[engine] = {}
            for n in counts:
                folder = Path(tmp) / f"{engine}-{n}"
                folder.mkdir()
                rows[engine][n] = ENGINES[engine](args, n, folder)
        seam = None if args.no_seam else seam_ratio(args, Path(tmp))
    print(
        f"\n{'engine':8} {'workers':>7} {'frames':>6} {'shots':>5} {'wall s':>8} {'speed-up':>8} {'overhead/unit s':>16}"
    )
    for engine, by_n in rows.items():
        base = by_n.get(counts[0], {}).get("wall_s")
        for n, row in by_n.items():
            if not row.get("available", True):
                print(f"{engine:8} {n:>7} {'–':>6} {'–':>5} {'–':>8} {'–':>8} {row['note']:>16}")
                continue
            over = row["unit_overhead_s"]
            row["overhead_mean_s"] = round(statistics.mean(over), 4) if over else None
            row["overhead_max_s"] = round(max(over), 4) if over else None
            speed = base / row["wall_s"] if base else float("nan")
            print(f"{engine:8} {n:>7} {row['frames']:>6} {row['shots']:>5} {row['wall_s']:>8.1f} {speed:>8.2f} "
                  f"{row['overhead_mean_s']:>9.3f} (max {row['overhead_max_s']:.3f})")  # fmt: skip
    if seam is not None:
        print(f"\nseam: {seam['frames']} frames, chunk {seam['chunk']}, overlap {seam['overlap']}: mean warping error "
              f"around the seam {seam['ratio_mean']:.2f}x the median of the other pairs (median "
              f"{seam['ratio_median']:.2f}x, worst pair {seam['ratio_worst_pair']:.2f}x; bound 1.5x); "
              f"{seam['vs_unchunked']:.2f}x the same pairs rendered without chunks")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scale-{args.label}.json"
    machine = {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count()}
    path.write_text(json.dumps({"machine": machine, "args": {k: str(v) for k, v in vars(args).items()},
                                "engines": rows, "seam": seam}, indent=1))  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_render":
        _render(json.loads(sys.argv[2]))
    else:
        main()
