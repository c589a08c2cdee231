"""A walk-in pass (no plate) in the decision core: a car's read never uses it, at an entry or
an exit, whichever store handed it over; its QR code decides as any pass's does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controllers.person_policy import decide_qr
from controllers.policy import AccessPolicy, GateContext, PassPermit, Permits, decide
from controllers.values import Direction, Reason, Sighting, Verdict

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
WALK_IN = PassPermit(9, None, 7, NOW - timedelta(hours=1), NOW + timedelta(hours=3), 2, 0)
PLATED = PassPermit(5, "粤B88888", 7, NOW - timedelta(hours=1), NOW + timedelta(hours=3), 2, 0)


@pytest.mark.parametrize(
    ("direction", "passes", "verdict", "reason"),
    [
        (Direction.IN, (WALK_IN,), Verdict.REVIEW, Reason.UNKNOWN_PLATE),
        (Direction.IN, (WALK_IN, PLATED), Verdict.ALLOW, Reason.VISITOR_PASS),
        (Direction.OUT, (WALK_IN,), Verdict.REVIEW, Reason.EXIT_NOT_INSIDE),
        (Direction.OUT, (PLATED,), Verdict.ALLOW, Reason.EXIT_NOT_INSIDE),
    ],
)
def test_a_car_never_uses_a_walk_in_pass(
    direction: Direction, passes: tuple[PassPermit, ...], verdict: Verdict, reason: Reason
) -> None:
    gate = GateContext("main-in", direction, "A")
    decision = decide(
        Sighting("main-in", NOW, "粤B88888", 0.97),
        Permits(passes=passes),
        None,
        NOW,
        gate=gate,
        policy=AccessPolicy(),
    )
    assert (decision.verdict, decision.reason) == (verdict, reason)
    assert decision.pass_id != WALK_IN.pass_id
    assert decision.count_pass_use is (reason is Reason.VISITOR_PASS)


@pytest.mark.parametrize(
    ("at", "verdict", "reason"),
    [
        (NOW, Verdict.ALLOW, Reason.QR_PASS),
        (NOW - timedelta(hours=2), Verdict.DENY, Reason.PASS_NOT_YET_VALID),
        (NOW + timedelta(hours=4), Verdict.DENY, Reason.PASS_EXPIRED),
    ],
)
def test_a_walk_in_pass_admits_by_qr_within_its_window(
    at: datetime, verdict: Verdict, reason: Reason
) -> None:
    decision = decide_qr(WALK_IN, at)
    assert (decision.verdict, decision.reason) == (verdict, reason)
