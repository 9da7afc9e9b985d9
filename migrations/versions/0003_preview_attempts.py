"""preview attempts

Revision ID: 0003_previews
Revises: 0002
Create Date: 2026-11-29 20:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_previews'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # Existing messages start with no attempts counted (server_default).
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview_attempts', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('preview_attempts')
