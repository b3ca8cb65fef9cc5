"""Flow benchmark: speed per frame pair at 480p/720p/1080p and accuracy on ground truth.

    .venv/bin/python bench/flow.py [--quick] [--raft-weights PATH] [--out bench/results/flow.json]

Speed uses a real frame pair (Sintel clean alley_1, frames 2→3) resized to each size. For
every backend it reports the milliseconds of one flow estimate (a→b) and of one complete
cache entry as the pipeline makes it (flow both ways, both weight maps, float16 +
compression); plus the consistency weights and the cache encode/decode on their own, and
the pipeline's throughput with its worker pool. Accuracy: end-point error of every backend
on every ground-truth pair (Middlebury: known pixels; Sintel: valid pixels), zero flow for
scale, and the occlusion precision/recall of the forward-backward check on Sintel.
RAFT runs only with CUDA and a local weights file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidstyle.flow.backends import FlowBackend, make_backend
from vidstyle.flow.cache import decode_entry, encode_entry
from vidstyle.flow.consistency import ConsistencyParams, consistency_weights, disocclusion_mask
from vidstyle.flow.evaluate import (
    endpoint_error,
    ground_truth_pairs,
    mask_score,
    occlusion_eval_region,
)
from vidstyle.flow.pipeline import FlowPipeline, compute_entry

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "dis-ultrafast": ("dis", {"preset": "ultrafast"}),
    "dis-fast": ("dis", {"preset": "fast"}),
    "dis-medium": ("dis", {"preset": "medium"}),
    "dis-medium-norefine": ("dis", {"preset": "medium", "refine": 0}),
    "dis-medium-scale0.5": ("dis", {"preset": "medium", "scale": 0.5}),
    "farneback": ("farneback", {}),
}


def media_root() -> Path:
    env = os.environ.get("VIDSTYLE_MEDIA")
    root = Path(env) if env else REPO.parent / "shared" / "media"
    if not (root / "flow").is_dir():
        sys.exit(f"bench/flow.py: no ground-truth folder at {root}/flow (set VIDSTYLE_MEDIA)")
    return root


def timed(fn: Callable[[], Any], reps: int) -> float:
    """Median wall-clock milliseconds of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def speed(backends: dict[str, FlowBackend], frames: tuple[np.ndarray, np.ndarray], quick: bool) -> dict[str, Any]:
    a0, b0 = frames
    params = ConsistencyParams()
    out: dict[str, Any] = {}
    for label, (w, h) in SIZES.items():
        a = cv2.resize(a0, (w, h), interpolation=cv2.INTER_AREA)
        b = cv2.resize(b0, (w, h), interpolation=cv2.INTER_AREA)
        reps = 2 if quick else (5 if h <= 720 else 3)
        row: dict[str, Any] = {}
        for name, be in backends.items():
            flow_ms = timed(lambda be=be: be.compute(a, b), reps)
            entry_ms = timed(lambda be=be: encode_entry(compute_entry(be, params, 0, 1, a, b), {}), max(1, reps // 2))
            row[name] = {"flow_ms": round(flow_ms, 1), "pair_entry_ms": round(entry_ms, 1)}
        dis = backends.get("dis-medium") or next(iter(backends.values()))
        f, bk = dis.compute(a, b), dis.compute(b, a)
        entry = compute_entry(dis, params, 0, 1, a, b)
        data = encode_entry(entry, {})
        row["_parts"] = {
            "consistency_weights_ms": round(timed(lambda: consistency_weights(f, bk, params), reps), 1),
            "cache_encode_ms": round(timed(lambda: encode_entry(entry, {}), reps), 1),
            "cache_decode_ms": round(timed(lambda: decode_entry(data), reps), 1),
            "cache_entry_bytes": len(data),
            "float32_bytes": 2 * (2 * w * h * 2 * 4) + 2 * (w * h * 4),
        }
        out[label] = row
        print(f"  {label} done", file=sys.stderr)
    return out


def pipeline_throughput(frames: list[np.ndarray], size: tuple[int, int], workers: int) -> float:
    """Milliseconds per frame for FlowPipeline (offsets {1}, DIS medium, empty cache)."""
    seq = [(i, cv2.resize(f, size, interpolation=cv2.INTER_AREA)) for i, f in enumerate(frames)]
    with tempfile.TemporaryDirectory() as tmp, FlowPipeline(tmp, offsets=(1,), workers=workers) as fp:
        list(fp.iterate(seq[:2]))  # start the pool (spawn) outside the timing
        t = time.perf_counter()
        list(fp.iterate([(100 + i, img) for i, img in seq]))
        return 1000 * (time.perf_counter() - t) / len(seq)


def accuracy(backends: dict[str, FlowBackend], media: Path) -> dict[str, Any]:
    epe: dict[str, dict[str, float]] = {"zero": {}}
    occ: dict[str, dict[str, float]] = {}
    for pair in ground_truth_pairs(media):
        a, b = pair.frames()
        gt, valid = pair.gt_flow(), pair.valid()
        epe["zero"][pair.name] = round(endpoint_error(np.zeros(gt.shape, np.float32), gt, valid), 3)
        for name, be in backends.items():
            flow = be.compute(a, b)
            epe.setdefault(name, {})[pair.name] = round(endpoint_error(flow, gt, valid), 3)
            if name == "dis-medium" and pair.occlusions is not None:
                s = mask_score(disocclusion_mask(flow, be.compute(b, a)), pair.occluded(), occlusion_eval_region(pair))
                occ[pair.name] = {
                    "precision": round(s.precision, 3),
                    "recall": round(s.recall, 3),
                    "occluded_fraction": round(s.prevalence, 3),
                }
    return {"epe": epe, "occlusion_dis_medium": occ}


def print_tables(result: dict[str, Any]) -> None:
    sp = result["speed_ms_per_pair"]
    names = [n for n in next(iter(sp.values())) if not n.startswith("_")]
    print(
        f"\nSpeed, ms per frame pair ({result['machine']['cpus']} CPUs, OpenCV threads {result['machine']['cv2_threads']})"
    )
    print("  one flow a→b / full cache entry (flow both ways + weights + compression)")
    print(f"{'backend':22s}" + "".join(f"{s:>20s}" for s in sp))
    for n in names:
        print(f"{n:22s}" + "".join(f"{sp[s][n]['flow_ms']:>9.0f} / {sp[s][n]['pair_entry_ms']:>7.0f} ms" for s in sp))
    print(f"{'weights (one map)':22s}" + "".join(f"{sp[s]['_parts']['consistency_weights_ms']:>17.0f} ms" for s in sp))
    print(
        f"{'cache encode/decode':22s}"
        + "".join(
            f"{sp[s]['_parts']['cache_encode_ms']:>9.0f} / {sp[s]['_parts']['cache_decode_ms']:>7.0f} ms" for s in sp
        )
    )
    print(
        f"{'cache entry size':22s}"
        + "".join(f"{sp[s]['_parts']['cache_entry_bytes'] / 2**20:>14.2f} MiB" + " " * 3 for s in sp)
    )
    if result.get("pipeline_ms_per_frame"):
        print("\nFlowPipeline (offsets {1}, DIS medium, cold cache), ms per frame:")
        for k, v in result["pipeline_ms_per_frame"].items():
            print(f"  {k}: {v:.0f}")
    epe = result["accuracy"]["epe"]
    sets = list(epe["zero"])
    short = [s.replace("sintel-", "") for s in sets]
    print("\nEnd-point error (px)")
    print(f"{'backend':22s}" + "".join(f"{s[-14:]:>15s}" for s in short))
    for n, row in epe.items():
        print(f"{n:22s}" + "".join(f"{row[s]:>15.3f}" for s in sets))
    occ = result["accuracy"]["occlusion_dis_medium"]
    if occ:
        print("\nOcclusions (DIS medium, forward-backward check) vs Sintel GT")
        for s, v in occ.items():
            print(f"  {s:24s} P {v['precision']:.2f}  R {v['recall']:.2f}  (occluded {v['occluded_fraction']:.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, no pipeline run")
    ap.add_argument("--raft-weights", type=Path, default=None, help="raft_large state_dict (used only with CUDA)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "flow.json")
    args = ap.parse_args()

    media = media_root()
    backends: dict[str, FlowBackend] = {n: make_backend(b, **o) for n, (b, o) in BACKENDS.items()}
    try:
        import torch

        if args.raft_weights and torch.cuda.is_available():
            backends["raft-large"] = make_backend("raft", weights_path=args.raft_weights, device="cuda")
    except ImportError:
        pass

    d = media / "flow" / "sintel" / "clean" / "alley_1"
    from vidstyle.flow.evaluate import load_rgb

    seq = [load_rgb(d / f"frame_{k:04d}.png") for k in range(1, 5)]
    print("speed …", file=sys.stderr)
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "cv2_threads": cv2.getNumThreads(),
            "opencv": cv2.__version__,
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "speed_source": "sintel clean/alley_1 frames 2->3 resized",
        "speed_ms_per_pair": speed(backends, (seq[1], seq[2]), args.quick),
    }
    if not args.quick:
        print("pipeline …", file=sys.stderr)
        frames = seq * 3  # 12 real frames (the loop's seams are just larger motions)
        result["pipeline_ms_per_frame"] = {
            f"{label} workers={w}": round(pipeline_throughput(frames, SIZES[label], w), 1)
            for label in ("720p", "1080p")
            for w in (0, 2)
        }
    print("accuracy …", file=sys.stderr)
    result["accuracy"] = accuracy(backends, media)
    print_tables(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
