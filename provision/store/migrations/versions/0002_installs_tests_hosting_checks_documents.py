"""installs tests hosting checks documents

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('check_results',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('request_id', sa.String(length=40), nullable=True),
    sa.Column('check', sa.String(length=20), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('duration', sa.Double(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_results_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_check_results_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_check_results_run_id'), ['run_id'], unique=False)

    op.create_table('documents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('number', sa.String(length=100), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_request_id'), ['request_id'], unique=False)

    op.create_table('hosting',
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('runtime', sa.String(length=40), nullable=False),
    sa.Column('database', sa.String(length=40), nullable=True),
    sa.Column('tls_expiry', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_table('installs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('env', sa.String(length=20), nullable=False),
    sa.Column('ref', sa.String(length=255), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=True),
    sa.Column('release', sa.String(length=100), nullable=True),
    sa.Column('hosts', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('installs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installs_request_id'), ['request_id'], unique=False)

    op.create_table('test_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=True),
    sa.Column('env', sa.String(length=20), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('results', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('test_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_runs_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('test_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_test_runs_request_id'))

    op.drop_table('test_runs')
    with op.batch_alter_table('installs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_installs_request_id'))

    op.drop_table('installs')
    op.drop_table('hosting')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_request_id'))

    op.drop_table('documents')
    with op.batch_alter_table('check_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_results_run_id'))
        batch_op.drop_index(batch_op.f('ix_check_results_request_id'))
        batch_op.drop_index(batch_op.f('ix_check_results_created_at'))

    op.drop_table('check_results')
