"""The base URL the newest server started with, for the URLs the CLI prints.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_state") as batch:
        batch.add_column(sa.Column("served_url", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_state") as batch:
        batch.drop_column("served_url")
