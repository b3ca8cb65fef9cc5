"""The on-disk flow cache and the pipeline that fills it with worker processes."""

from __future__ import annotations

import logging
import types

import cv2
import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.flow.backends import DISFlow
from vidstyle.flow.cache import FlowCache, PairEntry, decode_entry, encode_entry
from vidstyle.flow.consistency import (
    ConsistencyParams,
    consistency_weights,
    long_term_weights,
)
from vidstyle.flow.evaluate import load_rgb
from vidstyle.flow.pipeline import FlowPipeline, cached_entry, compute_entry


@pytest.fixture(scope="module")
def frames(media):
    """Five consecutive real frames (RubberWhale 07-11), halved to keep the tests quick."""
    d = media / "flow/middlebury/RubberWhale"
    out = []
    for i in range(7, 12):
        img = load_rgb(d / f"frame{i:02d}.png")
        out.append((i, cv2.resize(img, (292, 194), interpolation=cv2.INTER_AREA)))
    return out


def _random_entry(lo=3, hi=4, h=10, w=12, seed=0) -> PairEntry:
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.normal(0, 4, s).astype(np.float16)  # noqa: E731
    return PairEntry(
        lo, hi, f(h, w, 2), f(h, w, 2), rng.random((h, w)).astype(np.float16), rng.random((h, w)).astype(np.float16)
    )


def test_entry_round_trip_is_lossless_for_float16(tmp_path):
    cache = FlowCache(tmp_path, {"name": "dis", "preset": "medium"})
    e = _random_entry()
    path = cache.store(e)
    assert path.name == "000003-000004.vsflow" and path.parent.name == "12x10"
    assert (cache.directory / "identity.json").is_file()
    back = cache.load(3, 4, (12, 10))
    assert back is not None
    for name in ("flow_fwd", "flow_bwd", "weights_lo", "weights_hi"):
        got, want = getattr(back, name), getattr(e, name)
        assert got.dtype == np.float16 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    f, w = back.towards(4, 3)
    np.testing.assert_array_equal(f, e.flow_bwd)
    np.testing.assert_array_equal(w, e.weights_hi)
    assert cache.load(3, 5, (12, 10)) is None  # absent
    assert cache.load(3, 4, (12, 11)) is None  # other size


def test_compressed_size(frames):
    (lo, a), (hi, b) = frames[0], frames[1]
    e = compute_entry(DISFlow(), ConsistencyParams(), lo, hi, a, b)
    raw16 = sum(getattr(e, n).nbytes for n in ("flow_fwd", "flow_bwd", "weights_lo", "weights_hi"))
    data = encode_entry(e, {"k": 1})
    assert len(data) < 0.6 * raw16  # float16 + shuffle + zlib: well under the float16 size
    assert decode_entry(data, {"k": 1}).lo == lo


def test_identity_separates_settings(tmp_path):
    a = FlowCache(tmp_path, DISFlow().identity())
    assert a.directory == FlowCache(tmp_path, DISFlow().identity()).directory
    assert a.directory != FlowCache(tmp_path, DISFlow(preset="fast").identity()).directory
    assert a.directory != FlowCache(tmp_path, DISFlow().identity(), ConsistencyParams(smooth_sigma=0)).directory
    assert a.directory != FlowCache(tmp_path, DISFlow().identity(), source="other.mp4").directory


@pytest.mark.parametrize(
    "damage",
    ["flip_payload_byte", "truncate", "empty", "garbage_header", "wrong_key"],
)
def test_damaged_entries_are_rejected(tmp_path, caplog, damage):
    cache = FlowCache(tmp_path, {"name": "dis"})
    path = cache.store(_random_entry())
    data = bytearray(path.read_bytes())
    if damage == "flip_payload_byte":
        data[-10] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    elif damage == "garbage_header":
        data[12:20] = b"\xff" * 8
    elif damage == "wrong_key":
        # A valid entry of another pair copied under this pair's name.
        other = cache.store(_random_entry(lo=5, hi=6))
        data = bytearray(other.read_bytes())
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="vidstyle.flow.cache"):
        assert cache.load(3, 4, (12, 10)) is None
    assert "recomputing" in caplog.text


def test_corrupt_entry_is_recomputed_by_the_pipeline(tmp_path, frames):
    with FlowPipeline(tmp_path, offsets=(1,), workers=0) as fp:
        first = list(fp.iterate(frames[:3]))
        path = fp.cache.path(7, 8, (292, 194))
        good = path.read_bytes()
        path.write_bytes(good[:-100])  # a crash can't do this (atomic writes), a disk can
        again = list(fp.iterate(frames[:3]))
    assert path.read_bytes() == good  # rewritten, identical
    np.testing.assert_array_equal(first[1].links[1].flow, again[1].links[1].flow)


def test_failed_write_leaves_no_entry(tmp_path, monkeypatch):
    cache = FlowCache(tmp_path, {"name": "dis"})
    import vidstyle.flow.cache as cache_mod

    def boom(entry, key):
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod, "encode_entry", boom)
    with pytest.raises(OSError):
        cache.store(_random_entry())
    assert not list(cache.directory.rglob("*.vsflow")) and not list(cache.directory.rglob("*.part*"))


def test_reuse_on_rerun_skips_computation(tmp_path, frames, monkeypatch):
    with FlowPipeline(tmp_path, offsets=(1, 2), workers=0) as fp:
        first = list(fp.iterate(frames))
    calls = []
    monkeypatch.setattr(DISFlow, "compute", lambda self, a, b: calls.append(1))
    with FlowPipeline(tmp_path, offsets=(1, 2), workers=0) as fp:
        second = list(fp.iterate(frames))
    assert calls == []
    for a, b in zip(first, second, strict=True):
        for k in a.links:
            np.testing.assert_array_equal(a.links[k].flow, b.links[k].flow)
            np.testing.assert_array_equal(a.links[k].long_weights, b.links[k].long_weights)


def test_links_direction_and_long_term_combination(tmp_path, frames):
    with FlowPipeline(tmp_path, offsets=(2, 1, 4), workers=0) as fp:
        assert fp.offsets == (1, 2, 4)
        out = list(fp.iterate(frames))
        back = list(fp.iterate(reversed(frames)))
    assert [o.index for o in out] == [7, 8, 9, 10, 11]
    assert [sorted(o.links) for o in out] == [[], [1], [1, 2], [1, 2], [1, 2, 4]]
    last = out[-1]
    assert {k: link.source for k, link in last.links.items()} == {1: 10, 2: 9, 4: 7}
    np.testing.assert_array_equal(last.image, frames[-1][1])
    # The warping flow is i→j, the weights those of frame i, as computed directly.
    (_i, img_i), (_j, img_j) = frames[-1], frames[-2]
    fij = DISFlow().compute(img_i, img_j).astype(np.float16).astype(np.float32)
    fji = DISFlow().compute(img_j, img_i).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(last.links[1].flow, fij)
    np.testing.assert_allclose(last.links[1].weights, consistency_weights(fij, fji), atol=1e-3)
    expected = long_term_weights({k: link.weights for k, link in last.links.items()})
    for k, link in last.links.items():
        np.testing.assert_array_equal(link.long_weights, expected[k])
    # Reverse order: frame 7 links to the later frames 8, 9, 11, from the same cache entries.
    assert {k: link.source for k, link in back[-1].links.items()} == {1: 8, 2: 9, 4: 11}
    f, w = fp.pair(7, frames[0][1], 8, frames[1][1])
    np.testing.assert_array_equal(back[-1].links[1].flow, f)
    np.testing.assert_array_equal(back[-1].links[1].weights, w)


def test_worker_pool_equals_sequential(tmp_path, frames):
    with FlowPipeline(tmp_path / "seq", offsets=(1, 2), workers=0) as fp:
        seq = list(fp.iterate(frames))
    objs = [types.SimpleNamespace(index=i, image=img) for i, img in frames]  # video Frame-like
    with FlowPipeline(tmp_path / "pool", offsets=(1, 2), workers=2, ahead=2) as fp:
        par = list(fp.iterate(objs))
    assert [o.index for o in par] == [o.index for o in seq]
    for a, b in zip(seq, par, strict=True):
        assert a.links.keys() == b.links.keys()
        for k in a.links:
            np.testing.assert_array_equal(a.links[k].flow, b.links[k].flow)
            np.testing.assert_array_equal(a.links[k].weights, b.links[k].weights)
            np.testing.assert_array_equal(a.links[k].long_weights, b.links[k].long_weights)
    seq_files = sorted(p.name for p in (tmp_path / "seq").rglob("*.vsflow"))
    assert seq_files == sorted(p.name for p in (tmp_path / "pool").rglob("*.vsflow"))


def test_reads_ahead_but_bounded(tmp_path, frames):
    pulled = []

    def source():
        for f in frames:
            pulled.append(f[0])
            yield f

    with FlowPipeline(tmp_path, offsets=(1,), workers=0, ahead=2) as fp:
        it = fp.iterate(source())
        first = next(it)
        assert first.index == 7 and len(pulled) == 3  # the frame itself + 2 ahead
        rest = list(it)
    assert len(rest) == 4
    pulled.clear()
    with FlowPipeline(tmp_path, offsets=(1,), workers=0) as fp:  # in-process: nothing ahead
        assert next(fp.iterate(source())).index == 7 and len(pulled) == 1


def test_pipeline_input_errors(tmp_path, frames):
    with pytest.raises(VidstyleError, match="offsets"):
        FlowPipeline(tmp_path, offsets=(0, 1))
    with FlowPipeline(tmp_path, workers=0) as fp:
        with pytest.raises(VidstyleError, match="differs"):
            list(fp.iterate([frames[0], (8, frames[1][1][:100])]))
        with pytest.raises(VidstyleError, match="twice"):
            list(fp.iterate([frames[0], frames[0]]))
        with pytest.raises(VidstyleError, match="uint8"):
            list(fp.iterate([(0, np.zeros((20, 20), np.uint8))]))


def test_worker_errors_reach_the_caller(tmp_path):
    tiny = [(0, np.zeros((8, 8, 3), np.uint8)), (1, np.zeros((8, 8, 3), np.uint8))]
    with FlowPipeline(tmp_path, workers=1) as fp, pytest.raises(VidstyleError, match="too small"):
        list(fp.iterate(tiny))


def test_cached_entry_loads_else_computes_and_stores(tmp_path, frames, monkeypatch):
    """The one "load else compute" that the pipeline and vidstyle eval share."""
    (lo, a), (hi, b) = frames[0], frames[1]
    params = ConsistencyParams()
    cache = FlowCache(tmp_path, DISFlow().identity(), params)
    first = cached_entry(DISFlow(), params, cache, lo, hi, a, b)
    assert cache.path(lo, hi, (a.shape[1], a.shape[0])).is_file()
    monkeypatch.setattr(DISFlow, "compute", lambda self, x, y: pytest.fail("recomputed a cached pair"))
    again = cached_entry(DISFlow(), params, cache, lo, hi, a, b)
    np.testing.assert_array_equal(again.flow_fwd, first.flow_fwd)
    monkeypatch.undo()
    alone = cached_entry(DISFlow(), params, None, lo, hi, a, b)  # no cache: computed, nothing stored
    np.testing.assert_array_equal(alone.weights_lo, first.weights_lo)


def test_a_dead_worker_names_the_setting(tmp_path, frames, monkeypatch):
    """Library errors name the setting (flow.workers); each command maps it to its flag."""
    from concurrent.futures.process import BrokenProcessPool

    class Dead:
        def result(self):
            raise BrokenProcessPool("a child process terminated abruptly")

        def cancel(self):
            return False

    with FlowPipeline(tmp_path, workers=0) as fp:
        monkeypatch.setattr(fp, "_submit", lambda *args: Dead())
        with pytest.raises(VidstyleError, match=r"try fewer flow\.workers$") as e:
            list(fp.iterate(frames[:2]))
    assert "--" not in str(e.value)
