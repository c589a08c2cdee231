"""Face templates: embeddings (float32), not photos, tied to a resident who consented."""

from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class FaceTemplate(TimestampMixin, Base):
    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    # 128 little-endian float32 values; a face embedding cannot be turned back into a photo.
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    # Always null: enrolment photos are never kept (faces.store_photos: true is refused).
    photo_path: Mapped[str | None] = mapped_column(String(255), default=None)
