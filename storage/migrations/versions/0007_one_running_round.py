"""one running round per policy, enforced by a partial unique index

Revision ID: 0007_one_running_round
Revises: 0001
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_one_running_round"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = "phase IN ('opening', 'review', 'amend', 'vote')"


def upgrade() -> None:
    # checked before anything changes, so the upgrade can simply be run again once this is resolved
    twice = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT policy_version.policy_id, min(round.id), max(round.id) FROM round"
                " JOIN policy_version ON policy_version.id = round.policy_version_id"
                f" WHERE round.{RUNNING} GROUP BY policy_version.policy_id HAVING count(*) > 1"
            )
        )
        .all()
    )
    if twice:  # opened twice before this constraint existed: a moderator decides which one to keep
        listed = "; ".join(f"policy {p}: rounds #{a} … #{b}" for p, a, b in twice)
        raise RuntimeError(
            f"Some policies have more than one running round ({listed}). Cancel the extra ones "
            "(/round cancel) with the previous version of policybot, then upgrade again."
        )
    op.add_column("round", sa.Column("policy_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE round SET policy_id = "
        "(SELECT policy_version.policy_id FROM policy_version WHERE policy_version.id = round.policy_version_id)"
    )
    op.create_index(
        "uq_round_running_per_policy",
        "round",
        ["policy_id"],
        unique=True,
        sqlite_where=sa.text(RUNNING),
        postgresql_where=sa.text(RUNNING),
    )


def downgrade() -> None:
    op.drop_index("uq_round_running_per_policy", table_name="round")
    op.drop_column("round", "policy_id")
