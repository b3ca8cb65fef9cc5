"""plan_units: shots whole or in chunks, lead-ins within the chunk before, the cross-fade ramp."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from vidstyle.temporal.units import Unit, fade_weight, fades, plan_units, seams, split_lengths


@dataclass(frozen=True)
class S:
    index: int
    start: int
    end: int


def test_without_chunks_every_shot_is_one_unit():
    units = plan_units([S(0, 0, 10), S(1, 10, 12)], None, 8)
    assert units == [Unit(0, 0, 1, 0, 10), Unit(1, 0, 1, 10, 12)]
    assert [u.id for u in units] == ["shot0000", "shot0001"]
    assert not fades(units) and not seams(units)


def test_a_shot_no_longer_than_a_chunk_stays_whole():
    assert plan_units([S(3, 5, 15)], 10, 2) == [Unit(3, 0, 1, 5, 15)]


def test_a_long_shot_is_split_into_equal_chunks_with_lead_ins():
    units = plan_units([S(0, 0, 4), S(1, 4, 104)], 30, 5)
    assert units[0] == Unit(0, 0, 1, 0, 4)
    chunks = units[1:]
    assert [(u.start, u.end, u.lead) for u in chunks] == [(4, 29, 0), (29, 54, 5), (54, 79, 5), (79, 104, 5)]
    assert [u.id for u in chunks] == [f"shot0001-part{k:02d}" for k in range(4)]
    assert [u.first for u in chunks] == [4, 24, 49, 74]
    assert seams(units) == [29, 54, 79]
    # every frame is owned by exactly one unit
    owned = [p for u in units for p in range(u.start, u.end)]
    assert owned == list(range(104))


def test_split_lengths_has_no_tiny_tail():
    assert split_lengths(31, 30) == [16, 15]
    assert split_lengths(90, 30) == [30, 30, 30]
    assert split_lengths(7, 3) == [3, 2, 2]
    assert sum(split_lengths(1001, 17)) == 1001 and max(split_lengths(1001, 17)) <= 17


def test_a_lead_in_never_reaches_past_the_chunk_before():
    units = plan_units([S(0, 0, 7)], 3, 2)  # chunks 3, 2, 2
    assert [(u.start, u.end, u.lead) for u in units] == [(0, 3, 0), (3, 5, 2), (5, 7, 2)]
    units = plan_units([S(0, 0, 9)], 5, 4)  # chunks 5, 4: the lead-in fits in the first
    assert [(u.start, u.end, u.lead) for u in units] == [(0, 5, 0), (5, 9, 4)]
    units = plan_units([S(0, 0, 4)], 2, 1)
    for u, before in zip(units[1:], units):
        assert u.first >= before.start


def test_the_fade_ramps_linearly_over_the_lead_in():
    u = Unit(0, 1, 2, 10, 20, 3)
    assert [fade_weight(u, p) for p in range(6, 12)] == [0.0, 0.25, 0.5, 0.75, 0.0, 0.0]
    assert fades([u]) == {7: (u, 0.25), 8: (u, 0.5), 9: (u, 0.75)}
    assert u.is_lead(7) and not u.is_lead(10) and u.frames == 13


def test_no_overlap_gives_hard_seams():
    units = plan_units([S(0, 0, 10)], 5, 0)
    assert [u.lead for u in units] == [0, 0] and not fades(units)


@pytest.mark.parametrize("chunk,overlap", [(1, 0), (0, 0), (5, -1)])
def test_bad_numbers_are_refused(chunk, overlap):
    with pytest.raises(ValueError):
        plan_units([S(0, 0, 10)], chunk, overlap)


def test_settings_refuse_an_overlap_as_long_as_the_chunk():
    from pydantic import ValidationError

    from vidstyle.settings import TemporalSettings

    assert TemporalSettings(chunk=10, chunk_overlap=9).chunk == 10
    with pytest.raises(ValidationError, match="chunk_overlap"):
        TemporalSettings(chunk=10, chunk_overlap=10)
