"""The .flo reader/writer and the flow/weight pictures."""

from __future__ import annotations

import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.flow.io import known_mask, read_flo, write_flo
from vidstyle.flow.viz import colour_wheel, flow_to_rgb, save_png, weights_to_gray


def test_flo_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 5, (7, 11, 2)).astype(np.float32)
    flow[2, 3] = 1e10  # unknown marker survives
    write_flo(tmp_path / "f.flo", flow)
    back = read_flo(tmp_path / "f.flo")
    assert back.shape == (7, 11, 2) and back.dtype == np.float32
    np.testing.assert_array_equal(back, flow)
    assert not known_mask(back)[2, 3] and known_mask(back).sum() == 7 * 11 - 1


def test_flo_reads_ground_truth_layout(media):
    # RubberWhale: 584x388, mostly known, small motion (README: max 4.6 px, 98.4 % known).
    flow = read_flo(media / "flow/middlebury/RubberWhale/flow10.flo")
    assert flow.shape == (388, 584, 2)
    known = known_mask(flow)
    assert 0.97 < known.mean() < 0.99
    assert 4.0 < np.hypot(*flow[known].T).max() < 5.0


@pytest.mark.parametrize("content", [b"", b"PIEH", np.array([1.0, 3, 3], "<f4").tobytes()])
def test_flo_rejects_garbage(tmp_path, content):
    p = tmp_path / "bad.flo"
    p.write_bytes(content)
    with pytest.raises(VidstyleError, match=r"bad\.flo"):
        read_flo(p)


def test_flo_rejects_truncated(tmp_path):
    write_flo(tmp_path / "f.flo", np.zeros((4, 4, 2), np.float32))
    data = (tmp_path / "f.flo").read_bytes()
    (tmp_path / "f.flo").write_bytes(data[:-4])
    with pytest.raises(VidstyleError, match="truncated"):
        read_flo(tmp_path / "f.flo")


def test_colour_wheel_primary_hues():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3)
    np.testing.assert_array_equal(wheel[0], [255, 0, 0])  # red
    np.testing.assert_array_equal(wheel[15], [255, 255, 0])  # yellow
    np.testing.assert_array_equal(wheel[21], [0, 255, 0])  # green
    np.testing.assert_array_equal(wheel[36], [0, 0, 255])  # blue


def test_flow_picture_conventions(tmp_path):
    flow = np.zeros((3, 4, 2), np.float32)
    flow[0, 0] = (1, 0)  # right
    flow[0, 1] = (-1, 0)  # left
    flow[0, 2] = (0, 1)  # down
    flow[0, 3] = (np.nan, 0)  # unknown
    rgb = flow_to_rgb(flow, max_flow=1.0)
    assert rgb.dtype == np.uint8 and rgb.shape == (3, 4, 3)
    assert (rgb[1:] == 255).all()  # no motion is white
    assert (rgb[0, 3] == 0).all()  # unknown is black
    # Middlebury code: rightward motion is red, leftward cyan, downward greenish-blue.
    assert rgb[0, 1, 0] < 50 and rgb[0, 1, 1] > 200 and rgb[0, 1, 2] > 200
    assert rgb[0, 0, 0] > 200 and rgb[0, 0, 2] < 50
    save_png(tmp_path / "f.png", rgb)
    save_png(tmp_path / "w.png", weights_to_gray(np.array([[0.0, 0.5, 1.0]])))
    from PIL import Image

    assert Image.open(tmp_path / "f.png").size == (4, 3)
    assert list(np.asarray(Image.open(tmp_path / "w.png"))[0]) == [0, 128, 255]
