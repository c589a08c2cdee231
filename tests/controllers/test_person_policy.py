"""Decision table for the pedestrian gate: face with liveness, PIN, QR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controllers.person_policy import FaceEvidence, decide_face, decide_pin, decide_qr
from controllers.policy import PassPermit
from controllers.values import Reason, Verdict

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("evidence", "verdict", "reason", "alarm"),
    [
        (FaceEvidence(0, None, None), Verdict.REVIEW, Reason.NO_FACE, None),
        (FaceEvidence(5, 3, True), Verdict.ALLOW, Reason.FACE_RESIDENT, None),
        (FaceEvidence(5, 3, False), Verdict.DENY, Reason.LIVENESS_FAILED, "liveness_failed"),
        (FaceEvidence(5, None, False), Verdict.DENY, Reason.LIVENESS_FAILED, "liveness_failed"),
        (FaceEvidence(5, 3, None), Verdict.REVIEW, Reason.LIVENESS_CHALLENGE, None),
        (FaceEvidence(5, None, None), Verdict.REVIEW, Reason.LIVENESS_CHALLENGE, None),
        (FaceEvidence(5, None, True), Verdict.REVIEW, Reason.FACE_UNKNOWN, None),
    ],
    ids=["no-face", "resident-live", "resident-flat", "stranger-flat", "resident-still",
         "stranger-still", "stranger-live"],
)
def test_face_decisions(
    evidence: FaceEvidence, verdict: Verdict, reason: Reason, alarm: str | None
) -> None:
    decision = decide_face(evidence, household_id=7)
    assert (decision.verdict, decision.reason, decision.alarm) == (verdict, reason, alarm)
    assert decision.opens == (verdict is Verdict.ALLOW)


@pytest.mark.parametrize(
    ("pin_ok", "failures", "verdict", "reason", "alarm"),
    [
        (True, 0, Verdict.ALLOW, Reason.PIN, None),
        (False, 0, Verdict.DENY, Reason.PIN_WRONG, None),
        (False, 4, Verdict.DENY, Reason.PIN_WRONG, "pin_locked"),
        (True, 5, Verdict.DENY, Reason.PIN_LOCKED, "pin_locked"),
    ],
)
def test_pin_decisions(
    pin_ok: bool, failures: int, verdict: Verdict, reason: Reason, alarm: str | None
) -> None:
    decision = decide_pin(resident_id=1, household_id=2, pin_ok=pin_ok, recent_failures=failures)
    assert (decision.verdict, decision.reason, decision.alarm) == (verdict, reason, alarm)


def permit(start: timedelta, end: timedelta, uses: int = 0) -> PassPermit:
    return PassPermit(9, "粤B88888", 4, NOW + start, NOW + end, 1, uses)


@pytest.mark.parametrize(
    ("p", "verdict", "reason"),
    [
        (None, Verdict.DENY, Reason.QR_INVALID),
        (permit(timedelta(hours=-1), timedelta(hours=1)), Verdict.ALLOW, Reason.QR_PASS),
        (permit(timedelta(hours=1), timedelta(hours=2)), Verdict.DENY, Reason.PASS_NOT_YET_VALID),
        (permit(timedelta(hours=-2), timedelta(hours=-1)), Verdict.DENY, Reason.PASS_EXPIRED),
        (permit(timedelta(hours=-1), timedelta(hours=1), uses=1), Verdict.DENY,
         Reason.PASS_USED_UP),
    ],
)
def test_qr_decisions(p: PassPermit | None, verdict: Verdict, reason: Reason) -> None:
    decision = decide_qr(p, NOW)
    assert (decision.verdict, decision.reason) == (verdict, reason)
    assert decision.count_pass_use == (verdict is Verdict.ALLOW)
