"""keyed audit: event key ids and row digests, run seals, where the keyed part begins

Events written before this revision keep their plain SHA-256 links; audit_head.keyed_from
records the first event that must be keyed (the next one), so `audit verify` checks each
part its own way. Nothing here needs the key: it lives outside the database.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('key_id', sa.String(length=16), nullable=True))
    op.add_column('audit_events', sa.Column('state', sa.Text(), nullable=True))
    op.add_column('audit_head', sa.Column('keyed_from', sa.Integer(), nullable=True))
    op.add_column('runs', sa.Column('seal', sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_head SET keyed_from = seq + 1")


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('seal')
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('keyed_from')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('state')
        batch_op.drop_column('key_id')
