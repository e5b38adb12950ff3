"""ids are never reused; jobs get a random run key; samples a content digest; users a session version

SQLite hands out max(rowid)+1, so deleting the newest project let the next user's project (and its
jobs) get the same ids; the warm model cache was keyed by those ids and answered with the old model.
Tables are rebuilt with AUTOINCREMENT (PostgreSQL sequences never reuse ids already).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import uuid

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

TABLES = ('users', 'api_tokens', 'projects', 'classes', 'jobs', 'job_events', 'samples')


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.add_column(sa.Column('run_key', sa.String(length=32), nullable=True))
    with op.batch_alter_table('samples') as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_samples_digest'), ['digest'], unique=False)
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))
    conn = op.get_bind()
    jobs = sa.table('jobs', sa.column('id', sa.Integer), sa.column('run_key', sa.String))
    for (job_id,) in conn.execute(sa.select(jobs.c.id)).all():
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(run_key=uuid.uuid4().hex))
    if conn.dialect.name == 'sqlite':
        for name in TABLES:  # copy into a table declared AUTOINCREMENT (foreign keys are off meanwhile)
            with op.batch_alter_table(name, recreate='always', table_kwargs={'sqlite_autoincrement': True}):
                pass


def downgrade() -> None:
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('session_version')
    with op.batch_alter_table('samples') as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_digest'))
        batch_op.drop_column('digest')
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.drop_column('run_key')
