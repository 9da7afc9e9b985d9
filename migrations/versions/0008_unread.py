"""unread state: the last message each member has read in each channel

Revision ID: 0008_unread
Revises: 0007_moderation
Create Date: 2026-11-30 10:30:00.000000

Adds memberships.last_read_id. Existing members start having read every
message stored so far in their channels: nobody finds a backlog of unread
messages the day the release comes out.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008_unread'
down_revision = '0007_moderation'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('memberships', sa.Column('last_read_id', sa.Integer(), server_default='0', nullable=False))
    op.execute(
        'UPDATE memberships SET last_read_id = COALESCE('
        '(SELECT max(messages.id) FROM messages WHERE messages.channel_id = memberships.channel_id), 0)'
    )


def downgrade():
    op.drop_column('memberships', 'last_read_id')
