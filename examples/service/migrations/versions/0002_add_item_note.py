"""add items.note (expand-only: nullable, no default, so 1.0.0 code keeps working)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
release = "1.1.0"  # first shipped in 1.1.0 (read by tools/prune_migrations.py)


def upgrade() -> None:
    # Nullable without a default: a metadata-only change in PostgreSQL (no table
    # rewrite, brief lock), and old code that never mentions the column is fine.
    op.add_column("items", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "note")
