"""privacy: the name a member chose to be shown under, and whose words each model request carried

Revision ID: 0014_privacy_erasure
Revises: 0001
Create Date: 2026-12-03 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op


revision: str = '0014_privacy_erasure'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = '0004_privacy'


def upgrade() -> None:
    with op.batch_alter_table('member_privacy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shown_name', sa.Text(), server_default='', nullable=False))
    op.create_table('llm_prompt_author',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('member', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('prompt_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('community', 'member', 'prompt_hash', name='uq_llm_prompt_author')
    )


def downgrade() -> None:
    op.drop_table('llm_prompt_author')
    with op.batch_alter_table('member_privacy', schema=None) as batch_op:
        batch_op.drop_column('shown_name')
