"""Image sequences (a folder of PNG/JPG files or a printf pattern like ``frames/%05d.png``) as input and output."""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidstyle.errors import VidstyleError, file_error
from vidstyle.files.atomic import fsync_dir, new_folder_mode, os_errors
from vidstyle.files.patterns import is_pattern, pattern_regex
from vidstyle.image.load import image_size, read_rgb8
from vidstyle.video.codecs import DEFAULT_SEQUENCE_FPS, DEFAULT_SEQUENCE_PATTERN, IMAGE_SUFFIXES, JPEG_QUALITY
from vidstyle.video.info import Frame, VideoInfo
from vidstyle.video.reader import VideoReader
from vidstyle.video.timeline import Timeline

_NUMBER_RE = re.compile(r"(\d+)")


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in _NUMBER_RE.split(path.name)]


def sequence_files(path: Path) -> list[Path]:
    """The images of a sequence in order: natural sort in a folder, numeric order for a pattern."""
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
        )
        if not files:
            raise file_error(path, f"folder has no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    folder = path.parent
    if not folder.is_dir():
        raise file_error(path, f"folder {folder} does not exist")
    regex = pattern_regex(path.name)
    numbered = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := regex.match(p.name)))
    if not numbered:
        raise file_error(path, "no image matches this pattern")
    return [p for _, p in numbered]


def _fps(fps: float | Fraction | None) -> Fraction:
    if fps is None:
        return DEFAULT_SEQUENCE_FPS
    if not math.isfinite(float(fps)):
        raise VidstyleError(f"fps must be a finite number, not {fps}")
    rate = Fraction(fps).limit_denominator(1001000)
    if rate <= 0:
        raise VidstyleError(f"fps must be positive, not {fps}")
    return rate


def scan_sequence(path: Path, fps: float | Fraction | None = None) -> tuple[VideoInfo, Timeline, list[Path]]:
    """Metadata and timing of an image sequence; frame ``i`` is shown at ``i / fps``."""
    files = sequence_files(path)
    rate = _fps(fps)
    width, height = image_size(files[0])
    kind = files[0].suffix.lstrip(".").lower()
    n = len(files)
    timeline = Timeline(pts=np.arange(n, dtype=np.int64), end_pts=n, time_base=1 / rate)
    info = VideoInfo(
        path=path,
        container="image sequence",
        width=width,
        height=height,
        source_width=width,
        source_height=height,
        rotation=0,
        fps=rate,
        average_fps=rate,
        time_base=1 / rate,
        start_time=0.0,
        duration=float(n / rate),
        frame_count=n,
        frame_count_method="files",
        vfr=False,
        codec=kind,
        pix_fmt="rgb24",
        size_bytes=sum(f.stat().st_size for f in files),
    )
    return info, timeline, files


class SequenceReader(VideoReader):
    """A :class:`VideoReader` over an image sequence; ``index`` is the position in the sorted list."""

    def __init__(self, info: VideoInfo, timeline: Timeline, files: list[Path], **kwargs) -> None:
        super().__init__(info, timeline, **kwargs)
        self.files = files

    def _frames(self) -> Iterator[Frame]:
        sel, tl = self.selection, self.timeline
        assert sel is not None and tl is not None
        for index in range(sel.first, sel.stop, sel.stride):
            yield Frame(
                index=index,
                pts=index,
                time=tl.time(index),
                image=self._load(self.files[index]),
                duration=sel.duration_ticks(tl, index),
            )

    def _load(self, path: Path) -> np.ndarray:
        src = self.source_info
        rgb, (w, h) = read_rgb8(path)  # the same loader as still and style images
        check_frame_size(path, (w, h), (src.source_width, src.source_height))
        size = (self.info.width, self.info.height)
        if size != (rgb.shape[1], rgb.shape[0]):
            shrink = size[0] < rgb.shape[1]
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        return np.ascontiguousarray(rgb)


def check_frame_size(path: Path, size: tuple[int, int], expected: tuple[int, int]) -> None:
    """The one check that every image of a sequence has the first one's size (render and probe --count)."""
    if tuple(size) != tuple(expected):
        raise file_error(
            path,
            f"is {size[0]}x{size[1]}, the sequence is {expected[0]}x{expected[1]}; "
            "all images of a sequence must have the same size",
        )


def count_sequence(path: Path, fps: float | Fraction | None = None) -> int:
    """Read every image of a sequence as a render would (same loader, same size check); the count."""
    info, _, files = scan_sequence(path, fps)
    for f in files:
        _, size = read_rgb8(f)
        check_frame_size(f, size, (info.source_width, info.source_height))
    return len(files)


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def check_sequence_output(path: Path) -> tuple[Path, str, Path]:
    """Fail early unless images can be written at ``path``; returns (folder, name pattern,
    where the staging folder goes)."""
    if is_pattern(path):
        folder, pattern, stage_parent = path.parent, path.name, path.parent
        if not folder.is_dir():
            raise file_error(path, f"folder {folder} does not exist")
    else:
        folder, pattern = path, DEFAULT_SEQUENCE_PATTERN
        stage_parent = path.parent if str(path.parent) else Path(".")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise file_error(path, "exists and is not an empty folder")
        if not stage_parent.is_dir():
            raise file_error(path, f"folder {stage_parent} does not exist")
    if Path(pattern).suffix.lower() not in IMAGE_SUFFIXES:
        raise file_error(path, f"image pattern must end in one of {', '.join(IMAGE_SUFFIXES)}")
    if not os.access(stage_parent, os.W_OK | os.X_OK):
        raise file_error(path, f"folder {stage_parent} is not writable")
    return folder, pattern, stage_parent


class SequenceWriter:
    """Writes frames as numbered images into a staging folder, moved into place only on :meth:`close`.

    ``path`` is a folder (frames named ``%06d.png``, from 0) or a pattern such as
    ``out/frame_%04d.jpg``. A folder must not exist or be empty.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        self.path = path
        self.folder, self.pattern, stage_parent = check_sequence_output(path)
        try:
            self._stage = Path(
                tempfile.mkdtemp(prefix=f".{self.folder.name or 'frames'}.", suffix=".part", dir=stage_parent)
            )
        except OSError as e:
            raise file_error(path, f"cannot create the folder: {(e.strerror or str(e)).lower()}") from None
        self.count = 0
        self._closed = False

    def write(self, image: np.ndarray, **_timing: object) -> None:
        """Write the next image (timing arguments are accepted and ignored: images carry none)."""
        name = self._stage / (self.pattern % self.count)
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if name.suffix.lower() in (".jpg", ".jpeg") else []
        ok = cv2.imwrite(str(name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
        if not ok or name.stat().st_size == 0:
            problem = "no space left on device" if _disk_full(self._stage) else "disk full or unsupported format?"
            raise file_error(self.path, f"cannot write image ({problem})")
        self.count += 1

    def close(self) -> None:
        """Move the images into place."""
        if self._closed:
            return
        self._closed = True
        with os_errors(self.path, "cannot move the images into place"):
            if self.folder == self.path:  # whole folder: one rename
                os.chmod(self._stage, new_folder_mode())  # mkdtemp's 0700 → what mkdir would give
                if self.path.is_dir():
                    self.path.rmdir()  # empty, checked at open
                os.replace(self._stage, self.path)
                fsync_dir(self.path.parent)
            else:
                for f in sorted(self._stage.iterdir()):
                    os.replace(f, self.folder / f.name)
                self._stage.rmdir()
                fsync_dir(self.folder)

    def abort(self) -> None:
        """Drop everything written so far."""
        self._closed = True
        shutil.rmtree(self._stage, ignore_errors=True)
