from datetime import datetime, timedelta

import pytest

from vision.plate_config import PlateVotingConfig
from vision.types import PlateColor, PlateRead
from vision.voting import PlateVoter, vote, vote_with_province

T0 = datetime(2026, 11, 28, 8, 0, 0)


def r(text: str, conf: float = 0.95, color: PlateColor = PlateColor.BLUE) -> PlateRead:
    return PlateRead(text, conf, color, None, tuple(conf for _ in text))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("reads", "plate"),
    [
        ([r("皖A12345")], "皖A12345"),
        ([r("皖A12345"), r("皖A1Z345"), r("皖A12345")], "皖A12345"),  # per-character majority
        ([r("浙A12345", 0.6), r("湘A12345", 0.97)], "湘A12345"),  # confidence-weighted
        ([r("皖AD12345"), r("皖AD1234"), r("皖AD12345")], "皖AD12345"),  # length majority
        ([r("皖A1234学"), r("皖A12345", 0.5)], "皖A1234学"),
    ],
)
def test_vote(reads: list[PlateRead], plate: str) -> None:
    assert vote(reads)[0] == plate


def test_vote_confidence_reflects_agreement() -> None:
    _, unanimous = vote([r("皖A12345")] * 3)
    _, split = vote([r("皖A12345"), r("皖A12346"), r("皖A12347")])
    assert unanimous == pytest.approx(0.95)
    assert split < unanimous


def test_province_support_falls_when_frames_disagree_on_it() -> None:
    def unsure_province(text: str, province: float) -> PlateRead:
        return PlateRead(text, 0.9, PlateColor.BLUE, None, (province, *(0.97,) * 6))

    _, _, sure = vote_with_province([r("川AGU801")] * 3)
    plate, _, unsure = vote_with_province(
        [unsure_province("皖AGU801", 0.3), unsure_province("鄂AGU801", 0.2),
         unsure_province("川AGU801", 0.25)]
    )
    assert sure == pytest.approx(0.95)
    assert plate[1:] == "AGU801" and unsure < 0.2


def test_voter_passes_the_province_support_into_the_sighting() -> None:
    voter = PlateVoter(window_seconds=3, min_reads=1, cooldown_seconds=30)
    read = PlateRead("皖AGU801", 0.8, PlateColor.BLUE, None, (0.04, *(0.97,) * 6))
    sighting = voter.add("g1", [read], at(0))
    assert sighting is not None and sighting.province_confidence == pytest.approx(0.04)


def test_emits_once_at_min_reads_then_suppresses_same_car() -> None:
    voter = PlateVoter(window_seconds=3, min_reads=3, cooldown_seconds=30)
    assert voter.add("g1", [r("皖A12345")], at(0)) is None
    assert voter.add("g1", [r("皖A1Z345")], at(0.2)) is None
    sighting = voter.add("g1", [r("皖A12345")], at(0.4))
    assert sighting is not None
    assert (sighting.plate, sighting.reads, sighting.frames, sighting.gate_id) == (
        "皖A12345",
        3,
        3,
        "g1",
    )
    assert sighting.color == "blue"
    # The car waits at the barrier: reads and misreads of it never emit again.
    for k in range(20):
        text = "皖A12345" if k % 2 else "皖A1Z345"
        assert voter.add("g1", [r(text)], at(1 + k)) is None
    # Out of sight longer than the cooldown: the same car coming back is a new passage.
    for k in range(3):
        s = voter.add("g1", [r("皖A12345")], at(100 + k * 0.1))
    assert s is not None and s.plate == "皖A12345"


def test_window_close_emits_with_fewer_reads() -> None:
    voter = PlateVoter(window_seconds=2, min_reads=3)
    assert voter.add("g1", [r("苏B8C200")], at(0)) is None
    assert voter.add("g1", [], at(1)) is None
    sighting = voter.add("g1", [], at(2.5))
    assert sighting is not None
    assert (sighting.plate, sighting.reads, sighting.frames) == ("苏B8C200", 1, 2)
    assert sighting.at == at(0)


def test_different_car_closes_previous_track() -> None:
    voter = PlateVoter(window_seconds=5, min_reads=3)
    assert voter.add("g1", [r("苏B8C200")], at(0)) is None
    previous = voter.add("g1", [r("京N57T10")], at(0.5))
    assert previous is not None and previous.plate == "苏B8C200"
    assert voter.add("g1", [r("京N57T10")], at(0.6)) is None
    nxt = voter.add("g1", [r("京N57T10")], at(0.7))
    assert nxt is not None and nxt.plate == "京N57T10"


def test_gates_are_independent() -> None:
    voter = PlateVoter(min_reads=2)
    assert voter.add("in", [r("皖A12345")], at(0)) is None
    assert voter.add("out", [r("皖A12345")], at(0)) is None
    assert voter.add("in", [r("皖A12345")], at(0.1)) is not None
    assert voter.add("out", [r("皖A12345")], at(0.1)) is not None


def test_flush() -> None:
    voter = PlateVoter(min_reads=5)
    assert voter.flush("g1", at(0)) is None  # nothing pending
    voter.add("g1", [], at(0))
    voter.add("g1", [], at(0.1))
    empty = voter.flush("g1", at(0.2))
    assert empty is not None and empty.plate is None and empty.frames == 2
    voter.add("g1", [r("皖A12345")], at(1))
    voter.add("g1", [r("皖A12345")], at(1.1))
    done = voter.flush("g1", at(1.2))
    assert done is not None and done.plate == "皖A12345" and done.reads == 2
    assert voter.flush("g1", at(1.3)) is None


def test_only_the_lane_best_read_of_a_frame_votes() -> None:
    voter = PlateVoter(min_reads=2)
    voter.add("g1", [r("皖A12345"), r("京N57T10")], at(0))
    s = voter.add("g1", [r("皖A12345"), r("京N57T10")], at(0.1))
    assert s is not None and s.plate == "皖A12345"


@pytest.mark.parametrize(
    "kwargs", [{"window_seconds": 0}, {"min_reads": 0}, {"cooldown_seconds": -1}]
)
def test_rejects_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PlateVoter(**kwargs)


def test_from_config() -> None:
    voter = PlateVoter.from_config(PlateVotingConfig(min_reads=1))
    s = voter.add("g1", [r("皖A12345")], at(0))
    assert s is not None and s.reads == 1


def _row(text: str, *, double_row: bool) -> PlateRead:
    return PlateRead(text, 0.9, PlateColor.YELLOW, None, (0.9,) * len(text), double_row=double_row)


@pytest.mark.parametrize(
    ("reads", "kind"),
    [
        # A trailer's rear plate, read on its two rows in every frame.
        ([_row("冀A1234挂", double_row=True)] * 3, "trailer"),
        # A truck's rear plate: the text alone would say ordinary, the frames saw two rows.
        ([_row("冀A12345", double_row=True)] * 3, "double_row"),
        # Most frames win, as the colour does: one frame that took it for one row is outvoted.
        ([_row("冀A12345", double_row=True), _row("冀A12345", double_row=False),
          _row("冀A12345", double_row=True)], "double_row"),
        ([r("皖A12345")] * 3, "ordinary"),
    ],
)
def test_voter_passes_the_voted_plate_kind_into_the_sighting(
    reads: list[PlateRead], kind: str
) -> None:
    voter = PlateVoter(window_seconds=3, min_reads=3, cooldown_seconds=30)
    sightings = [voter.add("g1", [read], at(i * 0.2)) for i, read in enumerate(reads)]
    assert sightings[:2] == [None, None]
    assert sightings[2] is not None and sightings[2].kind == kind


def _unsure_end(text: str, *, double_row: bool) -> PlateRead:
    """A read sure of all but its last character."""
    confidences = (0.9,) * (len(text) - 1) + (0.2,)
    return PlateRead(text, 0.8, PlateColor.YELLOW, None, confidences, double_row=double_row)


@pytest.mark.parametrize(
    ("reads", "plate", "kind"),
    [
        # Two frames of two rows guessed the 挂 as 5, one read it surely: the plate is a
        # trailer's, whatever most frames' own kinds were (double_row).
        ([_unsure_end("冀A12345", double_row=True), _row("冀A1234挂", double_row=True),
          _unsure_end("冀A12345", double_row=True)], "冀A1234挂", "trailer"),
        # The same on one row: not 'ordinary' beside a plate ending in 挂.
        ([_unsure_end("冀A12345", double_row=False), _row("冀A1234挂", double_row=False),
          _unsure_end("冀A12345", double_row=False)], "冀A1234挂", "trailer"),
        # Two frames guessed a 挂 where one read 5 surely: a two-row truck plate, not a trailer.
        ([_unsure_end("冀A1234挂", double_row=True), _row("冀A12345", double_row=True),
          _unsure_end("冀A1234挂", double_row=True)], "冀A12345", "double_row"),
        # Two rows only when most frames saw two rows; the text decides the rest.
        ([_unsure_end("冀A1234挂", double_row=False), _row("冀A12345", double_row=True),
          _unsure_end("冀A1234挂", double_row=False)], "冀A12345", "ordinary"),
    ],
)
def test_the_voted_kind_follows_the_voted_plate_when_frames_disagree(
    reads: list[PlateRead], plate: str, kind: str
) -> None:
    voter = PlateVoter(window_seconds=3, min_reads=3, cooldown_seconds=30)
    sightings = [voter.add("g1", [read], at(i * 0.2)) for i, read in enumerate(reads)]
    sighting = sightings[2]
    assert sighting is not None and sighting.plate == plate and sighting.kind == kind


def test_a_tie_between_one_and_two_rows_keeps_the_kind_the_text_says() -> None:
    voter = PlateVoter(window_seconds=3, min_reads=2, cooldown_seconds=30)
    assert voter.add("g1", [_row("冀A12345", double_row=True)], at(0)) is None
    sighting = voter.add("g1", [_row("冀A12345", double_row=False)], at(0.2))
    assert sighting is not None and sighting.kind == "ordinary"


def test_a_sighting_without_a_plate_has_no_kind() -> None:
    voter = PlateVoter(window_seconds=3, min_reads=3, cooldown_seconds=30)
    assert voter.add("g1", [], at(0)) is None
    sighting = voter.flush("g1", at(1))
    assert sighting is not None and sighting.plate is None and sighting.kind is None
