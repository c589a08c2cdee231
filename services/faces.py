"""Face enrolment, consent and deletion, keeping the database and the live matcher in step.

PIPL: a template is stored only for a resident whose separate face consent is recorded (time
and operator); withdrawing consent or a deletion request removes every template from the
database and from the matcher in the same call, and both are audited.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from errors import InvalidInputError, NotFoundError
from models.db import transaction
from models.events import AuditEntry
from models.faces import FaceTemplate
from models.people import Resident
from vision.face_matcher import FaceMatcher
from vision.faces import FaceEngine
from vision.images import decode_image

logger = logging.getLogger(__name__)

EMBEDDING_SIZE = 128


def to_blob(embedding: np.ndarray) -> bytes:
    return np.asarray(embedding, dtype="<f4").reshape(EMBEDDING_SIZE).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


class FaceService:
    def __init__(
        self,
        *,
        engine: FaceEngine,
        matcher: FaceMatcher,
        sessions: sessionmaker[Session],
        max_pixels: int,
    ) -> None:
        self.engine = engine
        self.matcher = matcher
        self._sessions = sessions
        self._max_pixels = max_pixels
        # dlib is not documented as thread-safe: every use of the engine (enrolment here, the
        # pedestrian gate in services/face_gate.py) holds this one lock.
        self.engine_lock = threading.Lock()

    def load_all(self) -> int:
        with self._sessions() as session:
            rows = session.execute(select(FaceTemplate.resident_id, FaceTemplate.embedding)).all()
        grouped: dict[int, list[np.ndarray]] = {}
        for resident_id, blob in rows:
            grouped.setdefault(resident_id, []).append(from_blob(blob))
        self.matcher.replace_all((rid, np.stack(embs)) for rid, embs in grouped.items())
        logger.info("face matcher loaded %d templates of %d residents", len(rows), len(grouped))
        return len(rows)

    @staticmethod
    def _resident(session: Session, resident_id: int) -> Resident:
        resident = session.get(Resident, resident_id)
        if resident is None:
            raise NotFoundError(f"resident {resident_id} not found")
        return resident

    def record_consent(self, resident_id: int, operator: str, note: str) -> Resident:
        with transaction(self._sessions) as session:
            return self._record_consent(session, resident_id, operator, note)

    def _record_consent(
        self, session: Session, resident_id: int, operator: str, note: str
    ) -> Resident:
        resident = self._resident(session, resident_id)
        resident.face_consent_at = datetime.now(UTC)
        resident.face_consent_by = operator
        session.add(
            AuditEntry(username=operator, action="face.consent", target=f"resident:{resident_id}",
                       reason=note)
        )
        return resident

    def withdraw_consent(self, resident_id: int, operator: str, note: str) -> int:
        with transaction(self._sessions) as session:
            resident = self._resident(session, resident_id)
            resident.face_consent_at = None
            resident.face_consent_by = None
            removed = self._delete_rows(session, resident_id)
            session.add(
                AuditEntry(username=operator, action="face.consent_withdrawn",
                           target=f"resident:{resident_id}", reason=note,
                           details={"templates_removed": removed})
            )
        # After the commit: the live matcher never holds what the database no longer has.
        self.matcher.remove(resident_id)
        return removed

    def embed_photos(self, photos: list[bytes]) -> list[np.ndarray]:
        """Decode and embed every photo, or raise naming the first bad one; nothing stored."""
        embeddings = []
        for index, data in enumerate(photos, start=1):
            try:
                image = decode_image(data, max_pixels=self._max_pixels)
                with self.engine_lock:
                    embeddings.append(self.engine.embed_single_face(image).embedding)
            except InvalidInputError as err:
                raise type(err)(f"photo {index}: {err}") from err
        return embeddings

    def enrol(self, resident_id: int, embeddings: list[np.ndarray], operator: str) -> int:
        with transaction(self._sessions) as session:
            count = self._enrol(session, resident_id, embeddings, operator)
        # Only committed templates reach the live matcher.
        self.matcher.add(resident_id, np.stack(embeddings))
        return count

    def _enrol(
        self, session: Session, resident_id: int, embeddings: list[np.ndarray], operator: str
    ) -> int:
        resident = self._resident(session, resident_id)
        if resident.face_consent_at is None:
            raise InvalidInputError(
                f"resident {resident_id} has no recorded face consent: record it first "
                "(PUT /api/v1/residents/{id}/consent); residents who decline use a PIN, "
                "QR code or the guard"
            )
        if not embeddings:
            raise InvalidInputError("at least one photo is needed")
        for embedding in embeddings:
            session.add(
                FaceTemplate(resident_id=resident_id, embedding=to_blob(embedding),
                             created_by=operator)
            )
        session.add(
            AuditEntry(username=operator, action="face.enrol", target=f"resident:{resident_id}",
                       details={"templates_added": len(embeddings)})
        )
        return len(embeddings)

    def delete(self, resident_id: int, operator: str, reason: str) -> int:
        with transaction(self._sessions) as session:
            self._resident(session, resident_id)
            removed = self._delete_rows(session, resident_id)
            session.add(
                AuditEntry(username=operator, action="face.delete",
                           target=f"resident:{resident_id}", reason=reason,
                           details={"templates_removed": removed})
            )
        self.matcher.remove(resident_id)
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
