"""moderation: administrators, suspended users, deleted messages kept as tombstones

Revision ID: 0007_moderation
Revises: 0006_channels
Create Date: 2026-11-30 10:00:00.000000

Adds users.admin (the role granted with ``python manage.py admin grant``),
users.suspended_at and messages.deleted_at. Nothing stored changes: no
user is an administrator or suspended, no message deleted.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_moderation'
down_revision = '0006_channels'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('admin', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('users', sa.Column('suspended_at', sa.BigInteger(), nullable=True))
    op.add_column('messages', sa.Column('deleted_at', sa.BigInteger(), nullable=True))


def downgrade():
    op.drop_column('messages', 'deleted_at')
    op.drop_column('users', 'suspended_at')
    op.drop_column('users', 'admin')
