"""legacy requests: requests.kind ("sop" or "legacy") and, for imported ones, where each
fact came from (requests.imported, JSON)

Requests opened before this revision are SOP requests.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('requests', sa.Column('kind', sa.String(length=16), nullable=False, server_default='sop'))
    op.add_column('requests', sa.Column('imported', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('imported')
        batch_op.drop_column('kind')
