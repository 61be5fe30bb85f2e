"""station clocks: a scan whose read time is implausible is kept and flagged, not refused

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # server_default: existing rows get false; the models give every new row its own value.
    with op.batch_alter_table("scan", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("clock_wrong", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("clock_wrong", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.drop_column("clock_wrong")
    with op.batch_alter_table("scan", schema=None) as batch_op:
        batch_op.drop_column("clock_wrong")
