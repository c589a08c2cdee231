"""Face enrolment, consent and deletion, keeping the database and the live matcher in step.

PIPL: a template is stored only for a resident whose separate face consent is recorded (time
and operator); withdrawing consent or a deletion request removes every template from the
database and from the matcher in the same call, and both are audited.

Enrolment never holds up the pedestrian gate: it has a face engine of its own (its own dlib
detector and predictor, behind its own lock), and photos are embedded one request at a time on
one worker thread of its own (at a lower CPU priority), so two admins uploading at once take
one core, not both, and waiting uploads hold none of asyncio's shared worker threads.

Templates written by another process (``main.py enrol-faces`` beside the running controller, or
a row deleted by hand) reach the matcher through ``reload_if_changed``, which the controller
runs every ``faces.reload_check_s`` on a worker thread: a one-row aggregate query, and a full
reload only when it differs from what was loaded. The reload is built off every lock and
swapped in by reference, and only if the matcher was not changed in this process meanwhile
(``generation``): a deletion or consent withdrawal made while the reload was reading must not
be undone by the rows it read before it (PIPL). A reload set aside that way is tried again at
the next check.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from errors import BusyError, ConflictError, InvalidInputError, NotFoundError
from models.db import transaction
from models.events import AuditEntry
from models.faces import FaceTemplate
from models.people import Resident
from vision.face_matcher import FaceMatcher
from vision.faces import FaceEngine
from vision.images import decode_image
from wall_clock import utcnow

logger = logging.getLogger(__name__)

EMBEDDING_SIZE = 128
# What erases a resident's face data on request; the face itself stays their own to give again.
WITHDRAWN = "face.consent_withdrawn"
ERASURES = ("face.delete", WITHDRAWN)
# An enrolment photo whose embedding lies this close to one the resident has on file (or to
# another of the same upload) is the same photo again, or a copy re-saved: not stored twice.
# Measured on the shared LFW photos (60 people): the same file embeds to the same numbers,
# a copy re-saved as JPEG at quality 70-90 lies at most 0.08 away (quality 50: up to 0.17),
# two different photos of one person 0.24 or more (90 pairs). An office re-running a whole
# enrol-faces folder after fixing a few photos doubled everyone else's templates.
SAME_PHOTO_DISTANCE = 0.1


def to_blob(embedding: np.ndarray) -> bytes:
    return np.asarray(embedding, dtype="<f4").reshape(EMBEDDING_SIZE).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _lower_priority(nice: int) -> None:
    """Initializer of the enrolment thread: raise its nice value by ``nice``.

    On Linux the nice value belongs to the calling thread, not the process, so the gate's
    threads keep theirs. It cannot be lowered again without privileges: this thread is used
    for nothing else. Threads it starts inherit the value: OpenCV starts its worker pool from
    whichever thread first runs a parallel operation, so enrolment must not be the first to
    (decoding a photo and dlib's steps start none; checked on OpenCV 4.11).
    """
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except OSError as err:  # pragma: no cover - a platform without nice
        logger.warning("face enrolment keeps normal CPU priority: %s", err)


# A 12-16 MP photo keeps the engine 1.5-3 s: a full queue has moved on by then.
ENROL_RETRY_AFTER_S = 5


def templates_signature(session: Session) -> tuple[Any, ...]:
    """What changes whenever a template is added or deleted, in one aggregate row.

    The count and the id sums catch deletions and additions; the newest ``created_at`` catches
    the one case they miss: SQLite (no AUTOINCREMENT) gives a row added after the newest was
    deleted that same id again, for the same resident or for another."""
    row = session.execute(
        select(
            func.count(FaceTemplate.id), func.max(FaceTemplate.id),
            func.sum(FaceTemplate.id), func.sum(FaceTemplate.resident_id),
            func.max(FaceTemplate.created_at),
        )
    ).one()
    return tuple(row)


@dataclass(frozen=True, slots=True)
class ErasureMark:
    """The resident's newest erasure of their face data on record (an audit entry's id; None:
    none yet) when an enrolment took up their photos: ``enrol`` stores none of those photos
    once another erasure has come since (:meth:`FaceService.require_consent`)."""

    newest: int | None


def newest_erasure(session: Session, resident_id: int) -> int | None:
    return session.scalar(
        select(func.max(AuditEntry.id)).where(
            AuditEntry.action.in_(ERASURES), AuditEntry.target == f"resident:{resident_id}"
        )
    )


def has_withdrawn(session: Session, resident_id: int) -> bool:
    """Whether the resident ever withdrew their face consent."""
    return session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action == WITHDRAWN, AuditEntry.target == f"resident:{resident_id}"
        ).limit(1)
    ) is not None


def deleted_since_decided(session: Session, resident_id: int) -> bool:
    """Whether the resident's face data was deleted on request (``face.delete``; the consent
    stays) after their latest enrolment and their latest consent recorded: no one has
    decided for them since that their face may be stored again."""
    target = f"resident:{resident_id}"
    newest = dict(session.execute(
        select(AuditEntry.action, func.max(AuditEntry.id))
        .where(AuditEntry.action.in_(("face.delete", "face.enrol", "face.consent")),
               AuditEntry.target == target)
        .group_by(AuditEntry.action)
    ).all())
    deleted = newest.get("face.delete")
    return deleted is not None and deleted > max(
        newest.get("face.enrol") or 0, newest.get("face.consent") or 0)


def erasures_so_far(session: Session) -> dict[int, ErasureMark]:
    """Every resident's newest erasure on record, in one query (``enrol-faces`` as it
    starts); a resident not listed has none (``ErasureMark(None)``)."""
    rows = session.execute(
        select(AuditEntry.target, func.max(AuditEntry.id))
        .where(AuditEntry.action.in_(ERASURES)).group_by(AuditEntry.target)
    )
    marks = {}
    for target, newest in rows:
        kind, _, number = target.partition(":")
        if kind == "resident" and number.isdigit():
            marks[int(number)] = ErasureMark(newest)
    return marks


@dataclass(frozen=True, slots=True)
class TemplateRead:
    """Every template as the database had it, ready to swap into the matcher.

    ``generation`` is the service's count of matcher changes when the read began: ``apply``
    refuses a read made before a change this process made since."""

    generation: int
    signature: tuple[Any, ...]
    gallery: Any  # the matcher's own gallery type (FaceMatcher.build)
    templates: int
    residents: int


class FaceService:
    """Consent, enrolment and deletion of face templates.

    ``engine`` is enrolment's own: the container builds one that no gate uses, and
    ``engine_lock`` (a new lock unless given) guards it. Passing the pedestrian gate's engine
    and lock instead is the wiring parkgate had before, kept for ``bench.face_enrol_contention``
    to measure against. ``enrol_nice`` is added to the enrolment thread's nice value.
    """

    def __init__(
        self,
        *,
        engine: FaceEngine,
        matcher: FaceMatcher,
        sessions: sessionmaker[Session],
        max_pixels: int,
        engine_lock: threading.Lock | None = None,
        enrol_nice: int = 0,
        max_pending: int = 4,
    ) -> None:
        self.engine = engine
        self.matcher = matcher
        self._sessions = sessions
        self._max_pixels = max_pixels
        # dlib's detector and predictor are not documented as safe for concurrent use of one
        # instance: every use of ``engine`` holds this lock.
        self.engine_lock = engine_lock or threading.Lock()
        # One worker: enrolments queue here, one at a time. Made on first use and again on
        # the first use after close(): a stopped controller that starts again enrols again.
        self._enrol_nice = enrol_nice
        self._worker: ThreadPoolExecutor | None = None
        self._worker_lock = threading.Lock()
        # Each waiting request holds its photos (up to api.max_upload_bytes) in memory: a
        # client that keeps sending must meet a bound, not grow the queue without end.
        self._max_pending = max_pending
        self._pending = 0  # submitted and not finished, the one running included
        # Bumped under this lock by every change of the matcher (enrolment, deletion, consent
        # withdrawal, a reload swapped in): a reload whose read began at another generation
        # is not applied, so it cannot bring back a face deleted while it was reading.
        self._sync_lock = threading.Lock()
        self._generation = 0
        # templates_signature of the rows the matcher holds (None: never loaded).
        self._loaded: tuple[Any, ...] | None = None

    def close(self) -> None:
        """Stop the enrolment thread once the enrolment it is on ends; enrolments still
        queued are cancelled (their callers get ``CancelledError``), not run after shutdown."""
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=False, cancel_futures=True)

    def load_all(self) -> int:
        """Read every template into the matcher (at start, and once the database answers);
        return how many were read. Set aside, like any reload, if a deletion came meanwhile:
        the next ``reload_if_changed`` loads them."""
        read = self.read_templates()
        self.apply(read)
        return read.templates

    def reload_if_changed(self) -> bool:
        """Reload the matcher if templates were added or deleted since it was loaded (by
        another process, or by hand); return whether a reload was swapped in. Blocks for the
        reload (O(N²) with neighbour_ratio): call it from a worker thread, never the loop."""
        with self._sessions() as session:
            if templates_signature(session) == self._loaded:
                return False
        return self.apply(self.read_templates())

    def read_templates(self) -> TemplateRead:
        """Every template from the database, as a gallery not yet in use."""
        with self._sync_lock:
            generation = self._generation
        # One read-only transaction; the signature first, so a row committed between the two
        # statements makes the next check differ and reload again, never the reverse.
        with self._sessions() as session:
            signature = templates_signature(session)
            rows = session.execute(select(FaceTemplate.resident_id, FaceTemplate.embedding)).all()
        grouped: dict[int, list[np.ndarray]] = {}
        for resident_id, blob in rows:
            grouped.setdefault(resident_id, []).append(from_blob(blob))
        gallery = self.matcher.build((rid, np.stack(embs)) for rid, embs in grouped.items())
        return TemplateRead(generation, signature, gallery, len(rows), len(grouped))

    def apply(self, read: TemplateRead) -> bool:
        """Swap ``read`` into the matcher unless this process changed the matcher since the
        read began (a deletion it would undo); return whether it was swapped in."""
        with self._sync_lock:
            if read.generation != self._generation:
                logger.info("face templates reload set aside: faces were enrolled or deleted "
                            "while it read them; reading again at the next check")
                return False
            self.matcher.install(read.gallery)
            self._generation += 1
            self._loaded = read.signature
        logger.info("face matcher loaded %d templates of %d residents", read.templates,
                    read.residents)
        return True

    def forget(self, resident_id: int) -> None:
        """Drop ``resident_id`` from the matcher once its templates' deletion is committed;
        a reload that read them before the commit is then set aside (``apply``)."""
        with self._sync_lock:
            self._generation += 1
            self.matcher.remove(resident_id)

    @staticmethod
    def _resident(session: Session, resident_id: int) -> Resident:
        resident = session.get(Resident, resident_id)
        if resident is None:
            raise NotFoundError(f"resident {resident_id} not found")
        return resident

    @staticmethod
    def _locked_resident(session: Session, resident_id: int) -> Resident:
        """The resident, locked until the transaction ends: an enrolment and a consent
        withdrawal or deletion of the same resident then follow one another. Without it
        both read the resident first and both committed: templates stored after the
        withdrawal that should have refused them (PIPL). PostgreSQL: SELECT … FOR UPDATE.
        SQLite ignores that and Python's sqlite3 begins a transaction only at its first
        write, so a write to nothing takes its one write lock first (as services/users.py)."""
        if session.connection().dialect.name == "sqlite":
            session.execute(
                update(Resident)
                .where(Resident.id == resident_id)
                .values(face_consent_at=Resident.face_consent_at)
                .execution_options(synchronize_session=False)
            )
        resident = session.get(Resident, resident_id, with_for_update=True, populate_existing=True)
        if resident is None:
            raise NotFoundError(f"resident {resident_id} not found")
        return resident

    def record_consent(
        self, resident_id: int, operator: str, note: str, since: ErasureMark | None = None,
        *, over_withdrawal: bool = True,
    ) -> Resident:
        """Record the resident's consent. ``since``: their erasures when the consent was
        given (``enrol-faces --record-consent``: when the run began, the paper forms signed
        before it); an erasure after that refuses it (ConflictError). ``over_withdrawal``
        False (the bulk paper forms): a resident whose consent stands withdrawn, or whose
        face data was deleted at their request since they were last enrolled or consented,
        is refused too (ConflictError); only the office, resident by resident, decides for
        them again."""
        with transaction(self._sessions) as session:
            return self._record_consent(
                session, resident_id, operator, note, since, over_withdrawal=over_withdrawal)

    def _record_consent(
        self, session: Session, resident_id: int, operator: str, note: str,
        since: ErasureMark | None = None, *, over_withdrawal: bool = True,
    ) -> Resident:
        # Locked, as a withdrawal and a deletion lock it: a resident deleted between the read
        # and the write (the office's PIPL deletion while ``enrol-faces --record-consent``
        # reaches their folder) was an UPDATE of no row, StaleDataError: a traceback that
        # ended the run, or a 500 on the console. Now the deletion goes first or after.
        resident = self._locked_resident(session, resident_id)
        # A paper form signed before the resident withdrew consent, or asked for their face
        # data to be deleted, at the console while the import ran is no consent after it.
        _refuse_if_erased_since(session, resident_id, since)
        # The folder's paper forms were collected once, for everybody: run again later, they
        # gave a resident who had withdrawn (PIPL: withdrawable at any time) their face back,
        # with nobody deciding it for that resident.
        if (not over_withdrawal and resident.face_consent_at is None
                and has_withdrawn(session, resident_id)):
            raise ConflictError(
                f"resident {resident_id} has withdrawn face consent: a paper form from "
                "the folder does not give it back; record their new consent on the "
                "console (管理 → 记录授权) first"
            )
        if not over_withdrawal:
            _refuse_if_deleted_since_decided(session, resident_id)
            if resident.face_consent_at is not None:
                # The folder run again: the consent on file stays as it was given (its time,
                # its operator, its form's note), not re-dated to this run.
                return resident
        resident.face_consent_at = utcnow()
        resident.face_consent_by = operator
        session.add(
            AuditEntry(username=operator, action="face.consent", target=f"resident:{resident_id}",
                       reason=note)
        )
        return resident

    def withdraw_consent(self, resident_id: int, operator: str, note: str) -> int:
        with transaction(self._sessions) as session:
            resident = self._locked_resident(session, resident_id)
            had_consent = resident.face_consent_at is not None
            resident.face_consent_at = None
            resident.face_consent_by = None
            removed = self._delete_rows(session, resident_id)
            if not had_consent and not removed:
                # Nothing was withdrawn (a second click, a stale page): no entry, or the
                # personal-data export would tell the resident of a withdrawal at this time.
                return 0
            session.add(
                AuditEntry(username=operator, action=WITHDRAWN,
                           target=f"resident:{resident_id}", reason=note,
                           details={"templates_removed": removed})
            )
        # After the commit: the live matcher never holds what the database no longer has.
        self.forget(resident_id)
        return removed

    def submit_photos(self, photos: list[bytes]) -> Future[list[np.ndarray]]:
        """Queue ``photos`` for the enrolment thread; the future gives ``embed_photos``'s
        result. A future cancelled before its turn is never run."""
        with self._worker_lock:
            if self._pending >= self._max_pending:
                raise BusyError(
                    f"{self._pending} face enrolments are already waiting or running "
                    f"(faces.max_pending_enrolments); send the photos again in a moment",
                    retry_after_s=ENROL_RETRY_AFTER_S,
                )
            if self._worker is None:
                self._worker = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="face-enrol",
                    initializer=_lower_priority, initargs=(self._enrol_nice,),
                )
            future = self._worker.submit(self._embed_photos, photos)
            self._pending += 1
        # Also when cancelled: by close(), or by a request whose client went away.
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future[list[np.ndarray]]) -> None:
        with self._worker_lock:
            self._pending -= 1

    async def embed_photos_async(self, photos: list[bytes]) -> list[np.ndarray]:
        """``embed_photos`` for the event loop: waiting for its turn holds no thread."""
        return await asyncio.wrap_future(self.submit_photos(photos))

    def embed_photos(self, photos: list[bytes]) -> list[np.ndarray]:
        """Decode and embed every photo, or raise naming the first bad one; nothing stored.

        Runs on the enrolment thread (after any enrolment queued before it) and blocks the
        caller until done: never call it from that thread or the event loop."""
        return self.submit_photos(photos).result()

    def _embed_photos(self, photos: list[bytes]) -> list[np.ndarray]:
        embeddings = []
        try:
            for index, data in enumerate(photos, start=1):
                try:
                    image = decode_image(data, max_pixels=self._max_pixels)
                    with self.engine_lock:
                        embeddings.append(self.engine.embed_single_face(image).embedding)
                except InvalidInputError as err:
                    raise type(err)(f"photo {index}: {err}") from err
        finally:
            # Enrolments may be hours apart: do not keep a 12 MP photo's scan until the next.
            with self.engine_lock:
                self.engine.release_buffers()
        return embeddings

    def enrol(
        self, resident_id: int, embeddings: list[np.ndarray], operator: str,
        taken_up: ErasureMark | None = None,
    ) -> int:
        """Store ``embeddings`` and add them to the matcher; returns how many were stored:
        one the resident has on file already (the same photo again, SAME_PHOTO_DISTANCE) is
        not. ``taken_up``: what ``require_consent`` said before the photos were read; an
        erasure of the resident's face data since then refuses them (ConflictError)."""
        # The commit and the matcher's add under one hold of the lock: a deletion or
        # withdrawal committed right after this commit forgets the resident only after the
        # add, never before it (the add then put back a face the database no longer has,
        # and no reload noticed: the rows were as they had been before the enrolment).
        with self._sync_lock:
            with transaction(self._sessions) as session:
                added = self._enrol(session, resident_id, embeddings, operator, taken_up)
            if added:
                # Only committed templates reach the live matcher. A reload that read the
                # rows before this commit would drop them until the next check: set aside too.
                self._generation += 1
                self.matcher.add(resident_id, np.stack(added))
        return len(added)

    def _enrol(
        self, session: Session, resident_id: int, embeddings: list[np.ndarray], operator: str,
        taken_up: ErasureMark | None,
    ) -> list[np.ndarray]:
        # Again at the write, locked: consent may have been withdrawn while the photos were
        # read, or be withdrawn right now.
        _require_consent(self._locked_resident(session, resident_id))
        # A deletion request keeps the consent, and photos read before it were stored after
        # it: `enrol-faces` beside the server put back, a second after the office had
        # deleted it, the face the resident asked to have erased, and the gate opened for
        # it again. The lock makes any erasure committed before this write visible here.
        if _erased_since(session, resident_id, taken_up):
            raise ConflictError(
                f"resident {resident_id}'s face data was erased while these photos were being "
                "read: none of them is stored; enrol them again only if the resident asks"
            )
        if not embeddings:
            raise InvalidInputError("at least one photo is needed")
        on_file = [from_blob(blob) for blob in session.scalars(
            select(FaceTemplate.embedding).where(FaceTemplate.resident_id == resident_id))]
        added = _new_photos(embeddings, on_file)
        for embedding in added:
            session.add(
                FaceTemplate(resident_id=resident_id, embedding=to_blob(embedding),
                             created_by=operator)
            )
        if added:
            # Photos all on file already change nothing, and nothing is written of them.
            details: dict[str, int] = {"templates_added": len(added)}
            if len(added) < len(embeddings):
                details["already_on_file"] = len(embeddings) - len(added)
            session.add(AuditEntry(username=operator, action="face.enrol",
                                   target=f"resident:{resident_id}", details=details))
        return added

    def require_consent(
        self, resident_id: int, since: ErasureMark | None = None, *,
        over_deletion: bool = True,
    ) -> ErasureMark:
        """Raise unless ``resident_id`` exists and has recorded face consent, nor an erasure
        of their face data came after ``since``. Called before any photo is decoded: without
        consent a face must not be turned into features at all (PIPL), and the refusal then
        names the missing consent, not a fault of the photo. ``over_deletion`` False (a
        folder's photos): a resident whose face data was deleted at their request since they
        were last enrolled or consented is refused too. Returns the resident's erasures so
        far, for ``enrol`` once the photos are read."""
        with self._sessions() as session:
            _require_consent(self._resident(session, resident_id))
            _refuse_if_erased_since(session, resident_id, since)
            if not over_deletion:
                _refuse_if_deleted_since_decided(session, resident_id)
            return ErasureMark(newest_erasure(session, resident_id))

    def delete(self, resident_id: int, operator: str, reason: str) -> int:
        with transaction(self._sessions) as session:
            self._locked_resident(session, resident_id)
            removed = self._delete_rows(session, resident_id)
            session.add(
                AuditEntry(username=operator, action="face.delete",
                           target=f"resident:{resident_id}", reason=reason,
                           details={"templates_removed": removed})
            )
        self.forget(resident_id)
        return removed

    @staticmethod
    def _delete_rows(session: Session, resident_id: int) -> int:
        statement = delete(FaceTemplate).where(FaceTemplate.resident_id == resident_id)
        result = session.execute(statement)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def template_count(self, resident_id: int) -> int:
        with self._sessions() as session:
            self._resident(session, resident_id)
            return len(session.scalars(
                select(FaceTemplate.id).where(FaceTemplate.resident_id == resident_id)
            ).all())


def _new_photos(embeddings: list[np.ndarray], on_file: list[np.ndarray]) -> list[np.ndarray]:
    """``embeddings`` less those of a photo on file or earlier in the list (the same photo)."""
    kept: list[np.ndarray] = []
    for embedding in embeddings:
        seen = [*on_file, *kept]
        if seen and float(np.min(np.linalg.norm(np.stack(seen) - embedding, axis=1))) < (
            SAME_PHOTO_DISTANCE
        ):
            continue
        kept.append(embedding)
    return kept


def _erased_since(session: Session, resident_id: int, mark: ErasureMark | None) -> bool:
    """Whether the resident's face data was erased after ``mark`` was taken (None: no mark,
    nothing to compare with)."""
    return mark is not None and newest_erasure(session, resident_id) != mark.newest


def _refuse_if_erased_since(
    session: Session, resident_id: int, since: ErasureMark | None
) -> None:
    if _erased_since(session, resident_id, since):
        raise ConflictError(
            f"resident {resident_id}'s face data was erased after this run began (deletion "
            "request or consent withdrawn): their consent is not recorded again and none of "
            "their photos is read; enrol them again only if they ask"
        )


def _refuse_if_deleted_since_decided(session: Session, resident_id: int) -> None:
    # A folder's photos (enrol-faces) are the old ones, read for everybody in it: run again
    # for the others, the folder stored again the face a resident had asked to have deleted,
    # and the gate opened for them, with nobody deciding it for that resident.
    if deleted_since_decided(session, resident_id):
        raise ConflictError(
            f"resident {resident_id}'s face data was deleted at their request and nobody has "
            "enrolled them or recorded their consent since: the folder's photos are not "
            "enrolled again; if the resident asks, enrol them on the console (人脸与密码 → "
            "录入人脸)"
        )


def _require_consent(resident: Resident) -> None:
    if resident.face_consent_at is None:
        raise InvalidInputError(
            f"resident {resident.id} has no recorded face consent: record it first "
            "(PUT /api/v1/residents/{id}/consent); residents who decline use a PIN, "
            "QR code or the guard"
        )
