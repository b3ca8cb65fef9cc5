"""Measuring flow against ground truth: end-point error, occlusion precision/recall, and
the ground-truth pairs in the shared media folder (Middlebury, MPI-Sintel)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

from vidstyle.flow.consistency import inside_mask
from vidstyle.flow.io import known_mask, read_flo


@dataclasses.dataclass(frozen=True)
class GroundTruthPair:
    """Two frames and the ground-truth flow first→second (plus Sintel's masks, if any)."""

    name: str
    first: Path
    second: Path
    flow: Path
    occlusions: Path | None = None
    invalid: Path | None = None

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        return load_rgb(self.first), load_rgb(self.second)

    def gt_flow(self) -> np.ndarray:
        return read_flo(self.flow)

    def occluded(self) -> np.ndarray | None:
        """H×W bool: pixels of the first frame not visible in the second (Sintel only)."""
        return None if self.occlusions is None else load_mask(self.occlusions)

    def valid(self) -> np.ndarray:
        """H×W bool: pixels with known ground truth (and not marked invalid)."""
        m = known_mask(self.gt_flow())
        if self.invalid is not None:
            m &= ~load_mask(self.invalid)
        return m


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as H×W×3 uint8 RGB (vidstyle's one image loader)."""
    from vidstyle.image.load import read_rgb8

    return read_rgb8(path)[0]


def load_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A black/white mask image as H×W bool (white = True)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 127


def ground_truth_pairs(media: str | os.PathLike[str]) -> list[GroundTruthPair]:
    """Every GT pair under ``media/flow`` that is present: Middlebury RubberWhale and
    Dimetrodon (frame10→11), Sintel clean/final alley_1, cave_2, market_5 (frame 2→3)."""
    root = Path(media) / "flow"
    out: list[GroundTruthPair] = []
    for scene in ("RubberWhale", "Dimetrodon"):
        d = root / "middlebury" / scene
        if (d / "flow10.flo").is_file():
            out.append(GroundTruthPair(scene, d / "frame10.png", d / "frame11.png", d / "flow10.flo"))
    for render in ("clean", "final"):
        for scene in ("alley_1", "cave_2", "market_5"):
            d = root / "sintel" / render / scene
            if (d / "frame_0002.flo").is_file():
                out.append(
                    GroundTruthPair(
                        f"sintel-{render}/{scene}",
                        d / "frame_0002.png",
                        d / "frame_0003.png",
                        d / "frame_0002.flo",
                        d / "occlusions" / "frame_0002.png",
                        d / "invalid" / "frame_0002.png",
                    )
                )
    return out


def endpoint_error(flow: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean Euclidean distance between ``flow`` and ``gt`` over known (and ``valid``) pixels."""
    m = known_mask(gt)
    if valid is not None:
        m &= valid
    if not m.any():
        raise ValueError("no pixel with known ground truth")
    diff = flow.astype(np.float64) - np.where(m[..., None], gt, 0.0)
    return float(np.sqrt((diff**2).sum(axis=2))[m].mean())


@dataclasses.dataclass(frozen=True)
class MaskScore:
    """Precision and recall of a predicted mask against a reference mask."""

    precision: float
    recall: float
    prevalence: float  # fraction of evaluated pixels that the reference marks (chance precision)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def mask_score(pred: np.ndarray, ref: np.ndarray, evaluate: np.ndarray | None = None) -> MaskScore:
    """Precision/recall of ``pred`` against ``ref`` over the ``evaluate`` pixels."""
    ev = np.ones(ref.shape, bool) if evaluate is None else evaluate
    p, r = pred & ev, ref & ev
    tp = float((p & r).sum())
    return MaskScore(
        tp / max(float(p.sum()), 1.0), tp / max(float(r.sum()), 1.0), float(r.sum()) / max(float(ev.sum()), 1.0)
    )


def occlusion_eval_region(pair: GroundTruthPair) -> np.ndarray:
    """Pixels where Sintel's occlusion mask is comparable with a forward-backward check:
    valid ground truth whose true target stays inside the frame (Sintel marks out-of-frame
    pixels as occluded in some scenes and not in others)."""
    gt = pair.gt_flow()
    return pair.valid() & inside_mask(np.where(known_mask(gt)[..., None], gt, 0.0).astype(np.float32))
