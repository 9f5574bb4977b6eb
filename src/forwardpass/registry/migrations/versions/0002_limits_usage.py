"""Per-deployment limits (NULL: the plan's default) and usage counts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("max_body_bytes", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("max_rows", sa.Integer, nullable=True))
        batch.add_column(sa.Column("rate", sa.Float, nullable=True))
        batch.add_column(sa.Column("burst", sa.Integer, nullable=True))
    op.create_table(
        "deployment_usage",
        sa.Column(
            "deployment_id",
            sa.String(36),
            sa.ForeignKey("deployments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("metric", sa.String(100), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deployment_usage")
    with op.batch_alter_table("deployments") as batch:
        for name in ("burst", "rate", "max_rows", "max_body_bytes"):
            batch.drop_column(name)
