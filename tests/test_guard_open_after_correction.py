"""A guard's open giving back an admission the office changed after the barrier failed.

A barrier that does not open takes its passage's admission back (the car did not move); a
guard's open naming the passage, minutes later, gives it back. Meanwhile the office may have
deleted the visitor's pass or corrected the plate of the pass or car: given back as it was
recorded, the open failed on the deleted pass's foreign key (the guard's open an error, the
car let through uncounted), or put the car inside under the old plate (a row nobody leaves
by, counted for good; the car leaving under the right plate not recorded inside). It is now
given back as the records stand, as a passage written back after an outage is
(tests/test_journal_after_correction.py). Through the real runtime on a real database
(SQLite and PostgreSQL); the office's change is written as its route writes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from models.db import transaction
from tests.test_journal_after_correction import (
    REAL,
    TYPO,
    correct_car,
    correct_pass,
    household_of,
    inside,
    visitor,
)
from tests.test_zone_exit_counting import Barrier, at, counts, runtime_for, site
from tests.test_zone_exit_entry_race import delete_the_pass


def failed_then_opened(
    sessions: sessionmaker[Session], gate: str, office: Callable[[], Any], *,
    before: tuple[str, ...] = (),
) -> str | None:
    """The car (TYPO) passes ``before``'s gates, then ``gate``, whose barrier does not
    open; ``office`` changes the records; the guard opens ``gate`` naming the passage.
    Returns what the open did to the admission."""
    barrier = Barrier()
    runtime = runtime_for(sessions, barriers={gate: barrier})

    async def scenario() -> str | None:
        runtime._bus.bind(asyncio.get_running_loop())
        for passed in before:
            await at(runtime, passed, TYPO)
        barrier.jammed = True
        failed = await at(runtime, gate, TYPO)
        assert failed.barrier == "fault"
        await asyncio.to_thread(office)
        barrier.jammed = False
        opened = await runtime.open_barrier_for(gate, passage_id=failed.passage_id)
        return opened.admission

    return asyncio.run(scenario())


def test_a_visitor_let_in_by_hand_after_its_pass_was_deleted_is_inside_on_nobody_s_space(
    sessions: sessionmaker[Session],
) -> None:
    """As a deletion leaves a visitor already inside: counted, on no household's spaces
    (not the host's own car). The open failed on the pass's foreign key."""
    site(sessions)
    _, pass_id = visitor(sessions, TYPO)

    def delete_pass() -> None:
        with transaction(sessions) as session:
            delete_the_pass(pass_id)(session)

    assert failed_then_opened(sessions, "a-in", delete_pass) == "redone"
    assert (inside(sessions), counts(sessions)) == ({TYPO: (None, None)}, (1, 0))


def test_a_visitor_let_in_by_hand_after_its_pass_s_plate_was_corrected_leaves_by_it(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions)
    host, pass_id = visitor(sessions, TYPO)
    opened = failed_then_opened(sessions, "a-in", lambda: correct_pass(sessions, TYPO, REAL))
    assert opened == "redone"
    assert (inside(sessions), counts(sessions)) == ({REAL: (host, pass_id)}, (1, 0))

    async def leaves() -> None:
        runtime = runtime_for(sessions)
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-out", REAL)

    asyncio.run(leaves())
    assert (inside(sessions), counts(sessions)) == ({}, (0, 0))


def test_a_car_let_in_by_hand_after_its_plate_was_corrected_is_inside_under_the_new_plate(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions, TYPO)
    household = household_of(sessions, TYPO)
    opened = failed_then_opened(sessions, "a-in", lambda: correct_car(sessions, TYPO, REAL))
    assert opened == "redone"
    assert (inside(sessions), counts(sessions)) == ({REAL: (household, None)}, (1, 0))


def test_a_car_let_out_by_hand_after_its_plate_was_corrected_is_taken_out(
    sessions: sessionmaker[Session],
) -> None:
    """Inside under the typed plate; its exit's barrier fails (the car still inside, under
    it); the correction moves it to the right plate; the guard lets it out."""
    site(sessions, TYPO)
    opened = failed_then_opened(sessions, "a-out", lambda: correct_car(sessions, TYPO, REAL),
                                before=("a-in",))
    assert opened == "redone"
    assert (inside(sessions), counts(sessions)) == ({}, (0, 0))


def test_a_visitor_let_into_the_other_lot_by_hand_after_its_pass_was_deleted_moves_there(
    sessions: sessionmaker[Session],
) -> None:
    """Inside lot A on its pass, the visitor drives into lot B, whose barrier fails (the
    move taken back: in A again); the pass is deleted (the car in A on nobody's spaces); the
    guard lets it into B. The move given back failed on the pass's foreign key."""
    site(sessions)
    _, pass_id = visitor(sessions, TYPO)

    def delete_pass() -> None:
        with transaction(sessions) as session:
            delete_the_pass(pass_id)(session)

    opened = failed_then_opened(sessions, "b-in", delete_pass, before=("a-in",))
    assert opened == "redone"
    assert (inside(sessions), counts(sessions)) == ({TYPO: (None, None)}, (0, 1))


class CorrectedAsItFails(Barrier):
    """A barrier that does not open, the office's ``correction`` written in the moment
    between the passage's admission and the fault."""

    def __init__(self, correction: Callable[[], Any]) -> None:
        super().__init__()
        self._correction = correction

    async def open(self) -> str:
        if self.jammed:
            await asyncio.to_thread(self._correction)
        return await super().open()


def fails_as_corrected(sessions: sessionmaker[Session], gate: str, *,
                       before: tuple[str, ...] = ()) -> Any:
    """The car (TYPO) passes ``before``'s gates, then ``gate``, whose barrier fails just as
    the office corrects the car's plate to REAL; the guard then opens ``gate`` naming the
    passage. Returns the runtime's answer for the failed passage and the open's."""
    barrier = CorrectedAsItFails(lambda: correct_car(sessions, TYPO, REAL))
    runtime = runtime_for(sessions, barriers={gate: barrier})

    async def scenario() -> tuple[Any, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        for passed in before:
            await at(runtime, passed, TYPO)
        barrier.jammed = True
        failed = await at(runtime, gate, TYPO)
        assert failed.barrier == "fault"
        taken_back = (inside(sessions), counts(sessions))
        barrier.jammed = False
        opened = await runtime.open_barrier_for(gate, passage_id=failed.passage_id)
        return taken_back, opened.admission

    return asyncio.run(scenario())


def test_an_entry_whose_barrier_fails_as_the_plate_is_corrected_is_taken_back(
    sessions: sessionmaker[Session],
) -> None:
    """The correction moved the row the entry had just written to the right plate; the
    fault takes it back from there (the car is not inside), and the guard's open puts it
    back. The fault found nothing under the old plate and took nothing back: a car that
    never came in recorded inside under the right plate, counted."""
    site(sessions, TYPO)
    household = household_of(sessions, TYPO)
    taken_back, opened = fails_as_corrected(sessions, "a-in")
    assert taken_back == ({}, (0, 0))
    assert opened == "redone"
    assert (inside(sessions), counts(sessions)) == ({REAL: (household, None)}, (1, 0))


def test_an_exit_whose_barrier_fails_as_the_plate_is_corrected_puts_the_car_back_as_corrected(
    sessions: sessionmaker[Session],
) -> None:
    """The exit took the car out; the correction found it gone (nothing to move); the fault
    puts it back under the right plate, as the car is now. It was put back under the old
    plate, a row no read of the car leaves by (counted for good)."""
    site(sessions, TYPO)
    household = household_of(sessions, TYPO)
    taken_back, opened = fails_as_corrected(sessions, "a-out", before=("a-in",))
    assert taken_back == ({REAL: (household, None)}, (1, 0))
    assert opened == "redone"
    assert (inside(sessions), counts(sessions)) == ({}, (0, 0))


def test_a_car_let_into_the_other_lot_by_hand_after_its_plate_was_corrected_moves_there(
    sessions: sessionmaker[Session],
) -> None:
    """Inside lot A under the typed plate, the car drives into lot B, whose barrier fails
    (the move taken back: in A again); the correction moves it to the right plate, still in
    A; the guard lets it into B. The move given back found no row under the old plate and
    put the car into B under it: one car recorded in both lots, A and B each counting it."""
    site(sessions, TYPO)
    household = household_of(sessions, TYPO)
    opened = failed_then_opened(sessions, "b-in", lambda: correct_car(sessions, TYPO, REAL),
                                before=("a-in",))
    assert opened == "redone"
    assert (inside(sessions), counts(sessions)) == ({REAL: (household, None)}, (0, 1))
