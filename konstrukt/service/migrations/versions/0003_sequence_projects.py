"""sequence projects: projects.kind (classes | sequence) and samples.text (a recording's text)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('projects') as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='classes'))
    with op.batch_alter_table('samples') as batch_op:
        batch_op.add_column(sa.Column('text', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('samples') as batch_op:
        batch_op.drop_column('text')
    with op.batch_alter_table('projects') as batch_op:
        batch_op.drop_column('kind')
