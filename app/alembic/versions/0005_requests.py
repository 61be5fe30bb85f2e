"""requests: a clinician asks for a carrier; a clerk pulls it and lends it to them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carrier_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("needed_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("loan_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["carrier_id"], ["carrier.id"]),
        sa.ForeignKeyConstraint(["requester_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["closed_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["loan_id"], ["loan.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("carrier_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_carrier_request_carrier_id"), ["carrier_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_carrier_request_requester_id"), ["requester_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_carrier_request_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("carrier_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_carrier_request_state"))
        batch_op.drop_index(batch_op.f("ix_carrier_request_requester_id"))
        batch_op.drop_index(batch_op.f("ix_carrier_request_carrier_id"))
    op.drop_table("carrier_request")
