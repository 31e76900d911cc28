"""delivery: the outbox of posts and the handled requests

Revision ID: 0008_delivery
Revises: 0001
Create Date: 2026-11-24 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008_delivery"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("community", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("parent_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["delivered_at", "round_id"], unique=False)
    op.create_table(
        "handled_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("request_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("member", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("reply", sa.Text(), server_default="", nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community", "request_key", name="uq_handled_request"),
    )


def downgrade() -> None:
    op.drop_table("handled_request")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
