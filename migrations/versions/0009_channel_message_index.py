"""messages indexed by channel and id

Revision ID: 0009_channel_message_index
Revises: 0008_unread
Create Date: 2026-11-30 19:30:00.000000

Replaces the index on messages.channel_id by one on (channel_id, id): a
channel's page of messages, its newest message and its unread count are
then read from the index alone, however many messages other channels hold.
On PostgreSQL the index is built concurrently, so that posting goes on
while a release builds it on a large table.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = '0009_channel_message_index'
down_revision = '0008_unread'
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index(
            'ix_messages_channel_id_id', 'messages', ['channel_id', 'id'], postgresql_concurrently=True
        )
        op.drop_index('ix_messages_channel_id', table_name='messages', postgresql_concurrently=True)


def downgrade():
    with op.get_context().autocommit_block():
        op.create_index('ix_messages_channel_id', 'messages', ['channel_id'], postgresql_concurrently=True)
        op.drop_index('ix_messages_channel_id_id', table_name='messages', postgresql_concurrently=True)
