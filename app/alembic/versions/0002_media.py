"""media: manifests, intake and fixity results, PACS checks, successions, destruction records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:23:19.495558
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "carrier_succession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("predecessor_id", sa.Integer(), nullable=False),
        sa.Column("successor_id", sa.Integer(), nullable=False),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("study_count", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["predecessor_id"],
            ["carrier.id"],
        ),
        sa.ForeignKeyConstraint(
            ["successor_id"],
            ["carrier.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("predecessor_id", "successor_id", name="uq_carrier_succession"),
    )
    with op.batch_alter_table("carrier_succession", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_carrier_succession_successor_id"), ["successor_id"], unique=False
        )

    op.create_table(
        "destruction_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_by_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("witness", sa.String(length=120), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("retention_until", sa.Date(), nullable=False),
        sa.Column("studies", sa.String(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["carrier.id"],
        ),
        sa.ForeignKeyConstraint(
            ["destroyed_by_id"],
            ["app_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("carrier_id"),
    )
    op.create_table(
        "fixity_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("extra", sa.Integer(), nullable=False),
        sa.Column("unreadable", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["carrier.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fixity_check", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fixity_check_carrier_id"), ["carrier_id"], unique=False
        )

    op.create_table(
        "manifest_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=True),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=True),
        sa.Column("transfer_syntax_uid", sa.String(length=64), nullable=True),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["carrier.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("carrier_id", "path", name="uq_manifest_entry_path"),
    )
    with op.batch_alter_table("manifest_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_manifest_entry_sop_instance_uid"), ["sop_instance_uid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_manifest_entry_study_instance_uid"), ["study_instance_uid"], unique=False
        )

    op.create_table(
        "media_intake",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fileset_id", sa.String(length=16), nullable=True),
        sa.Column("fileset_uid", sa.String(length=64), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        sa.Column("byte_count", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("problems", sa.String(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["carrier.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("media_intake", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_media_intake_carrier_id"), ["carrier_id"], unique=False
        )

    op.create_table(
        "pacs_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pacs", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("carrier_instances", sa.Integer(), nullable=False),
        sa.Column("pacs_instances", sa.Integer(), nullable=True),
        sa.Column("warnings", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["carrier.id"],
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["study.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pacs_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pacs_check_carrier_id"), ["carrier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pacs_check_study_id"), ["study_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pacs_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pacs_check_study_id"))
        batch_op.drop_index(batch_op.f("ix_pacs_check_carrier_id"))

    op.drop_table("pacs_check")
    with op.batch_alter_table("media_intake", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_intake_carrier_id"))

    op.drop_table("media_intake")
    with op.batch_alter_table("manifest_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_manifest_entry_study_instance_uid"))
        batch_op.drop_index(batch_op.f("ix_manifest_entry_sop_instance_uid"))

    op.drop_table("manifest_entry")
    with op.batch_alter_table("fixity_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fixity_check_carrier_id"))

    op.drop_table("fixity_check")
    op.drop_table("destruction_record")
    with op.batch_alter_table("carrier_succession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_carrier_succession_successor_id"))

    op.drop_table("carrier_succession")
