"""inventory: campaigns, sweep sessions, their reads and the sightings reconciled from them;
a station's shelf (the location tag it read last)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shelf_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("shelf_set_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_station_shelf_id_location", "location", ["shelf_id"], ["id"]
        )
    op.create_table(
        "inventory_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("scope_location_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["closed_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["scope_location_id"], ["location.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "inventory_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("device", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shelf_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["inventory_campaign.id"]),
        sa.ForeignKeyConstraint(["shelf_id"], ["location.id"]),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index(op.f("ix_inventory_session_campaign_id"), "inventory_session", ["campaign_id"])
    op.create_table(
        "inventory_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tag_uid", sa.String(length=20), nullable=True),
        sa.Column("label", sa.String(length=16), nullable=True),
        sa.Column("shelf_id", sa.Integer(), nullable=True),
        sa.Column("carrier_id", sa.Integer(), nullable=True),
        sa.Column("read_class", sa.String(length=16), nullable=False),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["inventory_campaign.id"]),
        sa.ForeignKeyConstraint(["carrier_id"], ["carrier.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["inventory_session.id"]),
        sa.ForeignKeyConstraint(["shelf_id"], ["location.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(op.f("ix_inventory_read_campaign_id"), "inventory_read", ["campaign_id"])
    op.create_index("ix_inventory_read_session_time", "inventory_read", ["session_id", "read_at"])
    op.create_table(
        "inventory_sighting",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("carrier_id", sa.Integer(), nullable=False),
        sa.Column("shelf_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("read_class", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["inventory_campaign.id"]),
        sa.ForeignKeyConstraint(["carrier_id"], ["carrier.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["inventory_session.id"]),
        sa.ForeignKeyConstraint(["shelf_id"], ["location.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "carrier_id"),
    )
    op.create_index("ix_inventory_sighting_carrier", "inventory_sighting", ["carrier_id"])


def downgrade() -> None:
    op.drop_index("ix_inventory_sighting_carrier", table_name="inventory_sighting")
    op.drop_table("inventory_sighting")
    op.drop_index("ix_inventory_read_session_time", table_name="inventory_read")
    op.drop_index(op.f("ix_inventory_read_campaign_id"), table_name="inventory_read")
    op.drop_table("inventory_read")
    op.drop_index(op.f("ix_inventory_session_campaign_id"), table_name="inventory_session")
    op.drop_table("inventory_session")
    op.drop_table("inventory_campaign")
    with op.batch_alter_table("station", schema=None) as batch_op:
        batch_op.drop_constraint("fk_station_shelf_id_location", type_="foreignkey")
        batch_op.drop_column("shelf_set_at")
        batch_op.drop_column("shelf_id")
