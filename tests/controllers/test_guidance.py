"""Guidance as a decision table: which space a driver is sent to, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controllers.guidance import (
    GuidancePolicy,
    GuidanceReason,
    Hold,
    HoldBook,
    Recommendation,
    recommend,
)
from controllers.spaces import SpaceKind, SpaceState, SpaceView
from errors import ConflictError

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
F, OCC, U = SpaceState.FREE, SpaceState.OCCUPIED, SpaceState.UNKNOWN
K = SpaceKind
R = GuidanceReason


def space(
    sid: str,
    state: SpaceState = F,
    kind: SpaceKind = K.STANDARD,
    zone: str = "A",
    d1: float | None = None,
    owner: str | None = None,
) -> SpaceView:
    distances = {} if d1 is None else {"1": d1}
    return SpaceView(sid, zone, kind, state, distances, owner, label=sid)


def held(sid: str, who: str, minutes: float = 2) -> Hold:
    return Hold(sid, who, NOW + timedelta(minutes=minutes))


LOT = (
    space("A1", F, d1=50),
    space("A2", F, d1=20),
    space("A3", OCC, d1=5),
    space("A4", U, d1=8),
    space("ACC", F, K.ACCESSIBLE, d1=10),
    space("EV1", F, K.EV, d1=15),
    space("V1", F, K.VISITOR, d1=12),
    space("MINE", F, K.ASSIGNED, d1=60, owner="h-7"),
    space("OTHER", F, K.ASSIGNED, d1=1, owner="h-9"),
)

CASES = [
    # (name, kwargs, expected space, expected reasons)
    ("nearest standard", {}, "A2", (R.NEAREST_FREE,)),
    ("occupied/unknown never offered", {"spaces": LOT[:4]}, "A2", (R.NEAREST_FREE,)),
    ("accessible need", {"needs": [K.ACCESSIBLE]}, "ACC", (R.NEEDED_KIND, R.NEAREST_FREE)),
    ("ev need", {"needs": [K.EV]}, "EV1", (R.NEEDED_KIND, R.NEAREST_FREE)),
    ("visitor", {"needs": [K.VISITOR]}, "V1", (R.NEEDED_KIND, R.NEAREST_FREE)),
    (
        "two needs: nearest of either",
        {"needs": [K.EV, K.ACCESSIBLE]},
        "ACC",
        (R.NEEDED_KIND, R.NEAREST_FREE),
    ),
    (
        "need unavailable: standard instead",
        {"needs": [K.EV], "spaces": (*LOT[:4], space("EV1", OCC, K.EV, d1=15))},
        "A2",
        (R.NEEDED_KIND_UNAVAILABLE, R.NEAREST_FREE),
    ),
    ("needs 'standard' is no need", {"needs": [K.STANDARD]}, "A2", (R.NEAREST_FREE,)),
    ("assigned space first", {"assigned_space": "MINE"}, "MINE", (R.ASSIGNED_SPACE,)),
    (
        "assigned unknown still sent there",
        {"assigned_space": "MINE", "spaces": (*LOT[:8], space("MINE", U, K.ASSIGNED, owner="h-7"))},
        "MINE",
        (R.ASSIGNED_SPACE, R.ASSIGNED_STATE_UNKNOWN),
    ),
    (
        "assigned occupied: nearest instead",
        {
            "assigned_space": "MINE",
            "spaces": (*LOT[:7], space("MINE", OCC, K.ASSIGNED, owner="h-7")),
        },
        "A2",
        (R.ASSIGNED_UNAVAILABLE, R.NEAREST_FREE),
    ),
    (
        "assigned id unknown",
        {"assigned_space": "NOPE"},
        "A2",
        (R.ASSIGNED_UNAVAILABLE, R.NEAREST_FREE),
    ),
    (
        "assigned held by someone else",
        {"assigned_space": "MINE", "holds": [held("MINE", "car-2")], "holder": "car-1"},
        "A2",
        (R.ASSIGNED_UNAVAILABLE, R.NEAREST_FREE),
    ),
    (
        "held by another: next best",
        {"holds": [held("A2", "car-2")], "holder": "car-1"},
        "A1",
        (R.NEAREST_FREE,),
    ),
    (
        "expired hold ignored",
        {"holds": [held("A2", "car-2", minutes=-1)], "holder": "car-1"},
        "A2",
        (R.NEAREST_FREE,),
    ),
    (
        "own hold is returned again",
        {"holds": [held("A1", "car-1")], "holder": "car-1"},
        "A1",
        (R.HELD_FOR_YOU,),
    ),
    (
        "own hold on a space now occupied: pick again",
        {"holds": [held("A3", "car-1")], "holder": "car-1"},
        "A2",
        (R.NEAREST_FREE,),
    ),
    (
        "anonymous driver: every hold counts",
        {"holds": [held("A2", "car-1")]},
        "A1",
        (R.NEAREST_FREE,),
    ),
    (
        "busy zone costs metres",
        {
            "spaces": (space("A2", F, zone="A", d1=20), space("B1", F, zone="B", d1=35)),
            "zone_occupancy": {"A": 0.9, "B": 0.1},
        },
        "B1",  # 20 + 27 > 35 + 3
        (R.NEAREST_FREE,),
    ),
    (
        "zone weight off",
        {
            "spaces": (space("A2", F, zone="A", d1=20), space("B1", F, zone="B", d1=35)),
            "zone_occupancy": {"A": 0.9, "B": 0.1},
            "policy": GuidancePolicy(zone_weight_m=0),
        },
        "A2",
        (R.NEAREST_FREE,),
    ),
    (
        "occupancy from known spaces by default",
        {
            "spaces": (
                space("A2", F, zone="A", d1=20),
                space("A9", OCC, zone="A", d1=90),
                space("A8", OCC, zone="A", d1=90),
                space("B1", F, zone="B", d1=35),
            ),
        },
        "B1",  # A is 2/3 full: 20 + 20 > 35
        (R.NEAREST_FREE,),
    ),
    (
        "unknown distance ranks last",
        {"spaces": (space("X", F), space("Y", F, d1=300))},
        "Y",
        (R.NEAREST_FREE,),
    ),
    (
        "no distance at all: still a space",
        {"spaces": (space("Y", F), space("X", F))},
        "X",
        (R.DISTANCE_UNKNOWN,),
    ),
    (
        "someone else's assigned never offered",
        {"spaces": (LOT[8], LOT[0])},
        "A1",
        (R.NEAREST_FREE,),
    ),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "expected", "reasons"), CASES, ids=[c[0] for c in CASES]
)
def test_recommend(name: str, kwargs: dict, expected: str, reasons: tuple[R, ...]) -> None:
    args = {"spaces": LOT, "building": "1", "now": NOW, **kwargs}
    rec = recommend(**args)
    assert rec is not None, name
    assert (rec.space_id, rec.reasons) == (expected, reasons)
    assert rec.label == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spaces": ()},
        {"spaces": (space("A3", OCC), space("A4", U))},
        {"spaces": (space("ACC", F, K.ACCESSIBLE), space("EV", F, K.EV), space("V", F, K.VISITOR))},
        {"spaces": (space("A2", F),), "holds": [held("A2", "car-2")], "holder": "car-1"},
        {"spaces": (LOT[8],), "assigned_space": "MINE"},
    ],
)
def test_recommend_nothing_fits(kwargs: dict) -> None:
    assert recommend(**{"building": "1", "now": NOW, **kwargs}) is None


def test_recommendation_details() -> None:
    rec = recommend(LOT, building="1", now=NOW, policy=GuidancePolicy(alternatives=2))
    assert rec == Recommendation("A2", "A", K.STANDARD, 20, (R.NEAREST_FREE,), ("A1",), "A2")
    rec = recommend(LOT, building="9", now=NOW)
    assert rec is not None and rec.distance_m is None and rec.reasons == (R.DISTANCE_UNKNOWN,)


@pytest.mark.parametrize(
    "kwargs", [{"zone_weight_m": -1}, {"zone_weight_m": float("nan")}, {"alternatives": -1}]
)
def test_policy_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        GuidancePolicy(**kwargs)


# --- holds --------------------------------------------------------------------------------------


def test_hold_book_keeps_two_cars_off_one_space() -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    first = recommend(LOT, building="1", now=NOW, holds=book.active(NOW), holder="car-1")
    assert first is not None
    book.hold(first.space_id, "car-1", NOW)
    second = recommend(LOT, building="1", now=NOW, holds=book.active(NOW), holder="car-2")
    assert second is not None and second.space_id != first.space_id
    with pytest.raises(ConflictError):
        book.hold(first.space_id, "car-2", NOW)
    again = recommend(LOT, building="1", now=NOW, holds=book.active(NOW), holder="car-1")
    assert again is not None and again.space_id == first.space_id
    assert R.HELD_FOR_YOU in again.reasons


def test_hold_book_expiry_replace_and_release() -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    book.hold("A1", "car-1", NOW)
    assert book.holder_of("A1", NOW + timedelta(minutes=2)) == "car-1"
    assert book.holder_of("A1", NOW + timedelta(minutes=3)) is None  # expired at the ttl
    assert book.active(NOW + timedelta(minutes=3)) == ()
    # after expiry another car may take it
    book.hold("A1", "car-2", NOW + timedelta(minutes=4))
    assert book.holder_of("A1", NOW + timedelta(minutes=4)) == "car-2"
    # one hold per driver: a new hold replaces the old
    book.hold("A2", "car-2", NOW + timedelta(minutes=4))
    assert [h.space_id for h in book.active(NOW + timedelta(minutes=4))] == ["A2"]
    # the same driver may renew
    renewed = book.hold("A2", "car-2", NOW + timedelta(minutes=5), ttl=timedelta(minutes=10))
    assert renewed.until == NOW + timedelta(minutes=15)
    assert book.release("car-2") == renewed and book.release("car-2") is None
    book.hold("A3", "car-3", NOW)
    assert book.release_space("A3") is not None and book.holder_of("A3", NOW) is None
    assert book.release_space("A3") is None


def test_hold_book_purge_and_validation() -> None:
    book = HoldBook()
    book.hold("A1", "car-1", NOW)
    book.hold("A2", "car-2", NOW, ttl=timedelta(minutes=10))
    assert book.purge(NOW + timedelta(minutes=5)) == 1
    assert [h.space_id for h in book.active(NOW + timedelta(minutes=5))] == ["A2"]
    with pytest.raises(ValueError):
        HoldBook(ttl=timedelta(0))
    with pytest.raises(ValueError):
        book.hold("", "car-1", NOW)


# --- a space a person names (staff holds) ------------------------------------------------


HOLD_SPACE_CASES = [
    # (name, state, already held by, expected holder afterwards or the refusal's words)
    ("free space", F, None, "car-1"),
    ("unknown state: staff may know better than a silent sensor", U, None, "car-1"),
    ("the car's own hold is renewed", F, "car-1", "car-1"),
    ("another car's hold that ran out", F, "expired", "car-1"),
    ("occupied", OCC, None, "is occupied"),
    ("occupied while the car holds it", OCC, "car-1", "is occupied"),
    ("held for another car", F, "car-2", "already held for another car until 10:02"),
]


@pytest.mark.parametrize(
    ("name", "state", "held_by", "expected"), HOLD_SPACE_CASES, ids=[c[0] for c in HOLD_SPACE_CASES]
)
def test_hold_space_refuses_an_occupied_or_taken_space(
    name: str, state: SpaceState, held_by: str | None, expected: str
) -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    if held_by == "expired":
        book.hold("A1", "car-2", NOW - timedelta(minutes=10))
    elif held_by is not None:
        book.hold("A1", held_by, NOW - timedelta(minutes=1))
    book.hold("B9", "car-9", NOW)  # someone else's hold, untouched either way
    target = space("A1", state)
    if expected.startswith("car-"):
        placed = book.hold_space(target, "car-1", NOW)
        assert (placed.space_id, placed.holder, placed.until) == (
            "A1", "car-1", NOW + timedelta(minutes=3)
        )
    else:
        before = book.active(NOW)
        with pytest.raises(ConflictError, match=expected):
            book.hold_space(target, "car-1", NOW)
        assert book.active(NOW) == before  # refused: nothing held, released or moved
    assert book.holder_of("B9", NOW) == "car-9"


def test_a_refused_hold_keeps_the_cars_previous_hold() -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    book.hold("A2", "car-1", NOW)
    with pytest.raises(ConflictError, match="A1 is occupied"):
        book.hold_space(space("A1", OCC), "car-1", NOW)
    assert book.holder_of("A2", NOW) == "car-1"


# --- holds kept across a restart -------------------------------------------------------------


RESTORE_CASES = [
    # (name, stored holds, holds already in the book, what the book holds afterwards)
    ("active holds come back", [held("A1", "car-1"), held("A2", "car-2", 1)], [],
     [("A1", "car-1"), ("A2", "car-2")]),
    ("expired ones do not", [held("A1", "car-1", -1), held("A2", "car-2", 0)], [], []),
    ("one space, two cars: the later-ending hold wins",
     [held("A1", "car-1", 1), held("A1", "car-2", 2)], [], [("A1", "car-2")]),
    ("one car, two spaces: the later-ending hold wins",
     [held("A1", "car-1", 2), held("A2", "car-1", 1)], [], [("A1", "car-1")]),
    ("a hold made since is not displaced", [held("A1", "car-1"), held("A2", "car-2")],
     [("A1", "car-3"), ("A3", "car-2")], [("A1", "car-3"), ("A3", "car-2")]),
]


@pytest.mark.parametrize(
    ("name", "stored", "current", "expected"), RESTORE_CASES, ids=[c[0] for c in RESTORE_CASES]
)
def test_restore_takes_back_active_holds_one_per_space_and_car(
    name: str, stored: list[Hold], current: list[tuple[str, str]],
    expected: list[tuple[str, str]],
) -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    for sid, who in current:
        book.hold(sid, who, NOW)
    restored = book.restore(stored, NOW)
    assert sorted((h.space_id, h.holder) for h in book.active(NOW)) == sorted(expected)
    assert set(restored) <= set(stored)
    assert len(restored) == len(expected) - len(current)
    for hold in restored:
        assert hold.until in {h.until for h in stored}  # their own end, not a new ttl


def test_a_restored_hold_is_the_one_a_release_frees() -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    book.hold("A1", "car-1", NOW - timedelta(minutes=10))  # expired, still in the book
    (restored,) = book.restore([held("A2", "car-1")], NOW)
    assert book.release("car-1") == restored
    assert book.active(NOW) == () and book.release("car-1") is None


# --- holds restored late, after the store could not be read at start ------------------------


STORED = [held("A1", "car-1"), held("A2", "car-2")]
MEANWHILE_CASES = [
    # (name, what happened between the start and the restore, what the book holds afterwards)
    ("nothing: all come back", [], [("A1", "car-1"), ("A2", "car-2")]),
    ("a car that left does not get its hold back", [("release", "car-1")], [("A2", "car-2")]),
    ("a space a car parked in is not held again", [("release_space", "A2")],
     [("A1", "car-1")]),
    ("a car sent elsewhere keeps the new hold", [("hold", "A3", "car-1")],
     [("A3", "car-1"), ("A2", "car-2")]),
    ("a new car held and gone frees nothing stored", [("hold", "A3", "car-3"),
     ("release", "car-3")], [("A1", "car-1"), ("A2", "car-2")]),
    ("a space released before a new car took it stays the new car's",
     [("release_space", "A1"), ("hold", "A1", "car-3")], [("A1", "car-3"), ("A2", "car-2")]),
]


@pytest.mark.parametrize(
    ("name", "meanwhile", "expected"), MEANWHILE_CASES, ids=[c[0] for c in MEANWHILE_CASES]
)
def test_a_late_restore_skips_what_was_released_while_it_waited(
    name: str, meanwhile: list[tuple[str, ...]], expected: list[tuple[str, str]]
) -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    book.expect_restore()
    for action, *args in meanwhile:
        if action == "hold":
            book.hold(args[0], args[1], NOW)
        else:
            getattr(book, action)(args[0])
    book.restore(STORED, NOW)
    assert sorted((h.space_id, h.holder) for h in book.active(NOW)) == sorted(expected)


def test_releases_are_remembered_only_until_the_restore() -> None:
    book = HoldBook(ttl=timedelta(minutes=3))
    book.release("car-1")  # no restore expected: nothing to remember
    book.expect_restore()
    book.release("car-2")
    book.restore([], NOW)
    book.release("car-3")  # after the restore: a later restore is not affected
    book.restore([*STORED, held("A3", "car-3")], NOW)
    assert sorted((h.space_id, h.holder) for h in book.active(NOW)) == [
        ("A1", "car-1"), ("A2", "car-2"), ("A3", "car-3")
    ]
