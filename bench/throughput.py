"""Benchmark: optimiser-step throughput, and how renders share a CPU (issue 12).

Scenarios (run one per invocation, or ``all``):

* ``steps``: seconds per iteration of the whole optimiser step (VGG-19 forward + backward,
  losses, L-BFGS direction) at each size (longest side; the sample clip's 848x464 aspect),
  run through ``optimize_image`` at one scale exactly as a render runs a frame; and
  milliseconds of the L-BFGS direction alone with a full 100-pair history on an image of
  that size (the part issue 12's batched two-loop changes).
* ``presets``: seconds per frame of each preset (a shot's later frames, all passes; the
  first frame's time separately) from real renders of the sample clip (``--frames``).
* ``concurrent``: the same short render (sample clip, 8 frames at 128 px, fast preset,
  60 first-frame iterations, ``python -m vidstyle render`` in a fresh process) run alone,
  then 2 and then 3 copies started together; wall time of each copy and its ratio to the
  solo time. Targets: 2 at once ≤ 1.6× solo each, 3 at once ≤ 2.5×.

``--code PATH`` imports vidstyle from another tree (e.g. ``git archive db3779e`` unpacked),
which is how the "before" figures are measured with the same script. Time benchmarks
alone on the machine: anything else running distorts them.

Usage:
  python bench/throughput.py steps [--sizes 64,128,256,480] [--threads N] [--code PATH] [--label before]
  python bench/throughput.py presets [--sizes 128,256] [--presets fast,balanced,best] [--frames 4]
  python bench/throughput.py concurrent [--copies 1,2,3] [--code PATH] [--render-arg=--threads=1 ...] [--env K=V ...]
Results are printed as a table and written to bench/results/throughput-<scenario>-<label>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
STYLE = REPO / "sample_clips" / "styles" / "starry_night.jpg"
RESULTS = REPO / "bench" / "results"


def _code_path(argv: list[str]) -> Path:
    """``--code PATH`` must take effect before vidstyle (and torch) are imported."""
    for k, a in enumerate(argv):
        if a == "--code" and k + 1 < len(argv):
            return Path(argv[k + 1]).resolve()
        if a.startswith("--code="):
            return Path(a.split("=", 1)[1]).resolve()
    return REPO


CODE = _code_path(sys.argv)


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(), "code": str(CODE)}


# -- steps -----------------------------------------------------------------------------------
def bench_steps(sizes: list[int], iterations: int, warmup: int, threads: int | None) -> list[dict[str, object]]:
    """s/iteration of the whole step per size, and ms of the L-BFGS direction with a full history."""
    sys.path.insert(0, str(CODE))
    import torch

    import vidstyle  # noqa: F401  # first: it sets OpenMP's wait policy before torch starts its threads

    try:  # this tree's layout
        from vidstyle.image.io import fit_longest, from_uint8, resize
        from vidstyle.settings import OptimSettings
        from vidstyle.style import optimize as opt
        from vidstyle.style.stylize import Stylizer, optimize_image
    except ImportError:  # --code: a tree from before the package layout (flat modules)
        from vidstyle import optimize as opt  # type: ignore[no-redef,attr-defined]
        from vidstyle.images import fit_longest, from_uint8, resize  # type: ignore[no-redef]
        from vidstyle.settings import OptimSettings  # type: ignore[no-redef]
        from vidstyle.stylize import Stylizer, optimize_image  # type: ignore[no-redef]
    from vidstyle.video import open_video

    if threads is not None:
        try:
            try:  # the new code: its own per-size policy within the budget
                from vidstyle.compute import threads as budget
            except ImportError:
                from vidstyle import threads as budget  # type: ignore[no-redef,attr-defined]

            budget.set_budget(threads)
        except ImportError:
            torch.set_num_threads(threads)
    with open_video(CLIP, end="1f") as reader:
        frame = from_uint8(next(iter(reader)).image)
    stylizer = Stylizer([str(STYLE)], None, "cpu")
    rows = []
    for size in sizes:
        h, w = fit_longest(frame.shape[-2], frame.shape[-1], size)
        content = resize(frame, (h, w)).clamp(0, 1)
        n = warmup + (iterations if size <= 128 else max(4, iterations // (2 if size <= 256 else 4)))
        stamps: list[float] = []
        optim = OptimSettings(iterations=n, scales=1, tolerance_window=0)
        optimize_image(stylizer, content, optim, callback=lambda it: stamps.append(time.perf_counter()))
        per_iter = (stamps[-1] - stamps[warmup - 1]) / (len(stamps) - warmup)
        used_threads = torch.get_num_threads()  # what the step ran with (the new code sets it per size)
        # The L-BFGS direction alone, history full (100 pairs), fp32 like the optimiser's iterate.
        gen = torch.Generator().manual_seed(0)
        lb = opt.LBFGS(history=100, lr=1.0)
        shape = (1, 3, h, w)
        for _ in range(101):
            lb.step(torch.randn(shape, generator=gen))
        grads = [torch.randn(shape, generator=gen) for _ in range(10)]
        t0 = time.perf_counter()
        for g in grads:
            lb.step(g)
        lbfgs_ms = (time.perf_counter() - t0) / len(grads) * 1e3
        row = {"size": size, "hw": [h, w], "iterations_timed": n - warmup, "s_per_iter": per_iter,
               "lbfgs_ms_full_history": lbfgs_ms, "torch_threads": used_threads}  # fmt: skip
        print(f"{size:4d} px ({w}x{h}): {per_iter:.4f} s/iter, L-BFGS direction {lbfgs_ms:.2f} ms "
              f"(100 pairs), torch threads {used_threads}", flush=True)  # fmt: skip
        rows.append(row)
    return rows


# -- concurrent ------------------------------------------------------------------------------
def render_command(out: Path, frames: int, size: int, iterations: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "vidstyle", "render", str(CLIP), str(STYLE), "-o", str(out), "--size", str(size),
            "--preset", "fast", "--iterations", str(iterations), "--end", f"{frames}f", "--cuts", "none", "--quiet",
            *extra]  # fmt: skip


def run_together(copies: int, args: argparse.Namespace, workdir: Path) -> list[float]:
    """Start ``copies`` identical renders at once; wall seconds of each."""
    env = {**os.environ, "PYTHONPATH": str(CODE)}
    for item in args.env:
        k, _, v = item.partition("=")
        env[k] = v
    procs = []
    for c in range(copies):
        out = workdir / f"n{copies}_{c}.mp4"
        cmd = render_command(out, args.frames, args.size, args.iterations, args.render_arg)
        procs.append((time.perf_counter(), subprocess.Popen(cmd, env=env, cwd=workdir, stderr=subprocess.PIPE)))
    times = []
    for began, p in procs:
        _, err = p.communicate()
        times.append(time.perf_counter() - began)
        if p.returncode != 0:
            raise SystemExit(f"render failed ({p.returncode}): {err.decode(errors='replace')[-2000:]}")
    return times


def bench_concurrent(args: argparse.Namespace) -> list[dict[str, object]]:
    rows = []
    solo = None
    with tempfile.TemporaryDirectory() as tmp:
        for copies in args.copies:
            times = run_together(copies, args, Path(tmp))
            worst = max(times)
            if copies == 1:
                solo = worst
            ratio = worst / solo if solo else None
            rows.append({"copies": copies, "seconds": times, "worst": worst, "ratio_to_solo": ratio})
            print(f"{copies} at once: " + ", ".join(f"{t:.1f}" for t in times)
                  + (f" s; slowest {ratio:.2f}x solo" if ratio else " s"), flush=True)  # fmt: skip
    return rows


# -- presets ---------------------------------------------------------------------------------
def bench_presets(sizes: list[int], presets: list[str], frames: int) -> list[dict[str, object]]:
    """Seconds per frame of each preset (a shot's later frames; all passes), from real renders."""
    sys.path.insert(0, str(CODE))
    from vidstyle.render import render

    try:
        from vidstyle.job.events import FrameFinished
    except ImportError:  # --code: a tree from before the package layout
        from vidstyle.runner import FrameFinished  # type: ignore[no-redef]
    from vidstyle.settings import apply_overrides, preset_settings

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for preset in presets:
                settings = apply_overrides(preset_settings(preset), {"size": size, "styles": (str(STYLE),)})
                tasks: list[FrameFinished] = []
                t0 = time.perf_counter()
                render(CLIP, Path(tmp) / f"{preset}{size}.mp4", settings, end=f"{frames}f", device="cpu",
                       progress=lambda e: tasks.append(e) if isinstance(e, FrameFinished) else None)  # fmt: skip
                wall = time.perf_counter() - t0
                first = [t.seconds for t in tasks if (t.pass_, t.pos) == (1, 0)]
                later = [t.seconds for t in tasks if (t.pass_, t.pos) != (1, 0)]
                passes = settings.temporal.passes
                per_frame = passes * sum(later) / len(later)
                rows.append({"size": size, "preset": preset, "frames": frames, "passes": passes,
                             "first_frame_s": first[0], "s_per_frame": per_frame, "wall_s": wall})  # fmt: skip
                print(f"{size:4d} px {preset:9s} first frame {first[0]:6.1f} s, later frames {per_frame:6.2f} s/frame "
                      f"({frames} frames, {passes} pass(es), render {wall:.0f} s)", flush=True)  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", choices=["steps", "concurrent", "presets", "all"])
    ap.add_argument("--code", type=Path, default=REPO, help="tree to import vidstyle from (default: this one)")
    ap.add_argument("--label", default="after", help="name of this run in the results file")
    ap.add_argument("--sizes", default="64,128,256,480")
    ap.add_argument("--step-iterations", type=int, default=20, help="timed iterations at ≤128 px (fewer above)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="thread budget for the steps scenario")
    ap.add_argument("--copies", default="1,2,3")
    ap.add_argument("--frames", type=int, default=8, help="frames of each render (concurrent, presets)")
    ap.add_argument("--presets", default="fast,balanced,best")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=60, help="first-frame iterations of the short render")
    ap.add_argument("--render-arg", action="append", default=[], help="extra option for each render (repeatable)")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the render processes (repeatable)")
    args = ap.parse_args()
    args.copies = [int(c) for c in args.copies.split(",")]
    out: dict[str, object] = {"machine": machine(), "label": args.label}
    if args.scenario in ("steps", "all"):
        out["steps"] = bench_steps(
            [int(s) for s in args.sizes.split(",")], args.step_iterations, args.warmup, args.threads
        )
        out["steps_threads_budget"] = args.threads
        out["env"] = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "KMP_BLOCKTIME")}
    if args.scenario == "presets":
        out["presets"] = bench_presets([int(s) for s in args.sizes.split(",")], args.presets.split(","), args.frames)
    if args.scenario in ("concurrent", "all"):
        out["concurrent"] = {"render": render_command(Path("OUT.mp4"), args.frames, args.size, args.iterations,
                                                      args.render_arg)[2:],
                             "env": args.env, "rows": bench_concurrent(args)}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"throughput-{args.scenario}-{args.label}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
