"""carrier sets: the parts of one set share a key, so a desk can say which parts are still out

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("carrier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("set_key", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_carrier_set_key"), ["set_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("carrier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_carrier_set_key"))
        batch_op.drop_column("set_key")
