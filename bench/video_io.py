"""Decode and encode speed of vidstyle.video at 480p and 720p on this machine.

    .venv/bin/python bench/video_io.py [--seconds 3] [--encode-frames 90]

Decode: RGB frames per second delivered by ``open_video`` (demux + decode + colour
conversion), on real clips. Encode: frames per second through ``VideoWriter`` (RGB ->
YUV + encoder + muxer) at the default settings and at faster presets. Prints a table and
writes ``bench/results/video_io.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidstyle.video import DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PRESET, VideoWriter, open_video

MEDIA = Path(os.environ.get("VIDSTYLE_MEDIA", REPO.parent / "shared" / "media"))
CLIPS = {  # resolution label -> real clip
    "480p": MEDIA / "videos/moviepy_sintel_854x480_mp3_2s.mp4",  # 854x480 H.264
    "720p": MEDIA / "videos/sam2_dog_1280x720_aac.mp4",  # 1280x720 H.264
}
ENCODINGS = [  # (codec, preset): the default first
    (DEFAULT_CODEC, DEFAULT_PRESET),
    ("h264", "veryfast"),
    ("h264", "ultrafast"),
    ("ffv1", None),
]


def bench_decode(path: Path, seconds: float) -> dict:
    """Decode the clip repeatedly for about ``seconds``; frames per second of RGB output."""
    frames, start = 0, time.perf_counter()
    while True:
        with open_video(path) as reader:
            for _ in reader:
                frames += 1
            info = reader.info
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    fps = frames / elapsed
    return {
        "clip": path.name,
        "size": f"{info.width}x{info.height}",
        "codec": info.codec,
        "frames": frames,
        "seconds": round(elapsed, 3),
        "fps": round(fps, 1),
        "x_realtime": round(fps / float(info.fps), 1),
    }


def bench_encode(path: Path, n: int, codec: str, preset: str | None, tmp: Path) -> dict:
    """Encode the first ``n`` frames of the clip (already decoded, in memory)."""
    with open_video(path) as reader:
        frames = []
        for f in reader:
            frames.append(f)
            if len(frames) == n:
                break
        info = reader.info
    while len(frames) < n:  # short clip: loop it, keeping timestamps increasing
        frames.extend(frames[: n - len(frames)])
    out = tmp / f"out_{codec}_{preset}.{'mkv' if codec == 'ffv1' else 'mp4'}"
    start = time.perf_counter()
    with VideoWriter(out, width=info.width, height=info.height, fps=info.fps, codec=codec, preset=preset) as w:
        for f in frames:
            w.write(f.image)
    elapsed = time.perf_counter() - start
    fps = n / elapsed
    return {
        "clip": path.name,
        "size": f"{info.width}x{info.height}",
        "codec": codec,
        "preset": preset,
        "crf": DEFAULT_CRF if codec == "h264" else None,
        "frames": n,
        "seconds": round(elapsed, 3),
        "fps": round(fps, 1),
        "x_realtime": round(fps / float(info.fps), 1),
        "bytes": out.stat().st_size,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="decode time per clip")
    ap.add_argument("--encode-frames", type=int, default=90, help="frames per encode run")
    args = ap.parse_args()
    missing = [str(p) for p in CLIPS.values() if not p.is_file()]
    if missing:
        print(f"bench/video_io.py: error: clips not found: {', '.join(missing)} (set VIDSTYLE_MEDIA)", file=sys.stderr)
        return 2
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyav": av.__version__,
        },
        "decode": {},
        "encode": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in CLIPS.items():
            results["decode"][label] = bench_decode(path, args.seconds)
            results["encode"][label] = [bench_encode(path, args.encode_frames, c, p, Path(tmp)) for c, p in ENCODINGS]
    print(f"{'':6} {'what':34} {'size':>9} {'fps':>7} {'x real time':>11}")
    for label in CLIPS:
        d = results["decode"][label]
        print(
            f"{label:6} {'decode ' + d['codec'] + ' -> RGB':34} {d['size']:>9} {d['fps']:7.1f} {d['x_realtime']:11.1f}"
        )
        for e in results["encode"][label]:
            what = f"encode {e['codec']}" + (f" crf {e['crf']} {e['preset']}" if e["preset"] else " (lossless)")
            print(f"{label:6} {what:34} {e['size']:>9} {e['fps']:7.1f} {e['x_realtime']:11.1f}")
    out = REPO / "bench" / "results" / "video_io.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
