"""inventory reads: the session index names the read's class, so a batch finds its sessions'
shelf reads without walking every read of the session

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inventory_read", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_read_session_time")
        batch_op.create_index(
            "ix_inventory_read_session_class_time", ["session_id", "read_class", "read_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory_read", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_read_session_class_time")
        batch_op.create_index("ix_inventory_read_session_time", ["session_id", "read_at"])
