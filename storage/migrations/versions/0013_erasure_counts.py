"""export: counts of the events each erasure deleted, per round

Revision ID: 0013_erasure_counts
Revises: 0001
Create Date: 2026-12-01 23:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op


revision: str = '0013_erasure_counts'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('erasure_count',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('reaction_events', sa.Integer(), nullable=False),
    sa.Column('ballot_events', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('erasure_count', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erasure_count_community'), ['community'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('erasure_count', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erasure_count_community'))
    op.drop_table('erasure_count')
