"""hosting registry: the state of the request's staging instance (hosting.staging):
"serving", "stopped" (the production install stopped it) or "kept" (the spec keeps it)

Rows written before this revision have none (NULL: not recorded).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('hosting', sa.Column('staging', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('hosting', schema=None) as batch_op:
        batch_op.drop_column('staging')
