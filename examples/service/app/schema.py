"""What the schema shipped in this image looks like, and the ORM mapping for it.

The image carries only the migrations of its own release (tools/prune_migrations.py
removes later ones at build time), so "does this image ship revision 0002?" is
the single, explicit switch for the `note` column: the 1.0.0 image never maps
it (and keeps working on a 1.1.0 schema, where it is nullable), the 1.1.0 image
does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
NOTE_REVISION = "0002"


def shipped_revisions(migrations_dir: Path = MIGRATIONS_DIR) -> tuple[set[str], str | None]:
    """(all revision ids in this image, the single head or None)."""
    script = ScriptDirectory(str(migrations_dir))
    revisions = {s.revision for s in script.walk_revisions()}
    heads = script.get_heads()
    return revisions, (heads[0] if len(heads) == 1 else None)


REVISIONS, MIGRATIONS_HEAD = shipped_revisions()
NOTE_ENABLED = NOTE_REVISION in REVISIONS


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    if NOTE_ENABLED:  # mapped only when the image ships the migration that adds it
        note: Mapped[str | None] = mapped_column(Text, nullable=True)

    def as_dict(self) -> dict[str, object]:
        row: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
        }
        if NOTE_ENABLED:
            row["note"] = self.note
        return row
