"""lookup by patient ID and issuer: one index over both replaces the patient ID's own

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_index("ix_study_patient_id")
        batch_op.create_index("ix_study_patient_issuer", ["patient_id", "issuer_of_patient_id"])


def downgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_index("ix_study_patient_issuer")
        batch_op.create_index("ix_study_patient_id", ["patient_id"])
