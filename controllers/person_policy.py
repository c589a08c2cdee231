"""Decisions at a pedestrian gate: face (with liveness), PIN, or a visitor's QR pass.

A face never opens the gate on its own evidence alone: it needs an accepted match that held
over several frames *and* a live verdict. "Not enough motion to tell" is a challenge (turn
your head), not a refusal; a flat replay is refused and raises an alarm for the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from controllers.policy import PassPermit
from controllers.values import AccessDecision, Credential, Reason, Verdict

MAX_PIN_FAILURES = 5


@dataclass(frozen=True, slots=True)
class FaceEvidence:
    """What the face pipeline established over a burst of frames."""

    faces_seen: int
    resident_id: int | None  # set only when the vote over frames accepted one resident
    live: bool | None  # None: could not tell (too little motion) → ask for a head turn
    # No usable face, but one too small to judge was there: the person is too far back.
    too_small: bool = False
    # Nobody recognised because two faces of like size shared the frames: ask for one at a time.
    several: bool = False


def decide_face(evidence: FaceEvidence, household_id: int | None = None) -> AccessDecision:
    if evidence.faces_seen == 0:
        flags = ("face_too_small",) if evidence.too_small else ()
        return AccessDecision(Verdict.REVIEW, Reason.NO_FACE, Credential.FACE, flags=flags)
    if evidence.live is False:
        return AccessDecision(
            Verdict.DENY, Reason.LIVENESS_FAILED, Credential.FACE, alarm="liveness_failed",
            resident_id=evidence.resident_id,
        )
    if evidence.live is None:
        return AccessDecision(
            Verdict.REVIEW, Reason.LIVENESS_CHALLENGE, Credential.FACE,
            flags=("turn_head",), resident_id=evidence.resident_id, household_id=household_id,
        )
    if evidence.resident_id is None:
        flags = ("several_faces",) if evidence.several else ()
        return AccessDecision(Verdict.REVIEW, Reason.FACE_UNKNOWN, Credential.FACE, flags=flags)
    return AccessDecision(
        Verdict.ALLOW, Reason.FACE_RESIDENT, Credential.FACE,
        resident_id=evidence.resident_id, household_id=household_id,
    )


def decide_pin(
    *, resident_id: int, household_id: int | None, pin_ok: bool, recent_failures: int
) -> AccessDecision:
    # Locked after repeated failures even when this PIN is right: guessing must not pay off.
    if recent_failures >= MAX_PIN_FAILURES:
        return AccessDecision(
            Verdict.DENY, Reason.PIN_LOCKED, Credential.PIN, alarm="pin_locked",
            resident_id=resident_id,
        )
    if not pin_ok:
        locks = recent_failures + 1 >= MAX_PIN_FAILURES
        # The failure that locks the PIN says so (flag now_locked): the keypad must not ask for
        # another try that cannot open for up to the lock-out's length.
        return AccessDecision(
            Verdict.DENY, Reason.PIN_WRONG, Credential.PIN,
            alarm="pin_locked" if locks else None, resident_id=resident_id,
            flags=("now_locked",) if locks else (),
        )
    return AccessDecision(
        Verdict.ALLOW, Reason.PIN, Credential.PIN, resident_id=resident_id,
        household_id=household_id,
    )


def decide_qr(
    permit: PassPermit | None, now: datetime, zone: tzinfo | None = None
) -> AccessDecision:
    """``zone``: the community's, which a pass's daily hours are read in."""
    if permit is None:
        return AccessDecision(Verdict.DENY, Reason.QR_INVALID, Credential.QR)
    problem = permit.status(now, zone)
    if problem is not None:
        return AccessDecision(Verdict.DENY, problem, Credential.QR, pass_id=permit.pass_id)
    return AccessDecision(
        Verdict.ALLOW, Reason.QR_PASS, Credential.QR, pass_id=permit.pass_id,
        household_id=permit.household_id, count_pass_use=True,
    )
