"""slack: the moderators' user group of each workspace, chosen by its admins (community_moderator_group)

Revision ID: 0015_slack_moderators
Revises: 0001
Create Date: 2026-12-02 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op


revision: str = '0015_slack_moderators'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('community_moderator_group',
    sa.Column('community', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('group_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('group_name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('community')
    )


def downgrade() -> None:
    op.drop_table('community_moderator_group')
