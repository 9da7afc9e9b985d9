"""channels: general, which every user is a member of, channels anyone may join, direct conversations

Revision ID: 0006_channels
Revises: 0005_change_counters
Create Date: 2026-11-30 09:00:00.000000

Adds the channels table, starting with general (id 1), the memberships
table, with every stored user a member of general, and messages.channel_id
(a direct conversation between two users is a channel with no name):
every stored message is in general, which is where the original API reads
and posts.
"""

import sqlalchemy as sa
from alembic import op

from flack.change_counters import counting_ddl
from flack.models import GENERAL_CHANNEL_ID, LONGEST_TOPIC, add_general_channel
from flack.nicknames import LONGEST_KEY

# revision identifiers, used by Alembic.
revision = '0006_channels'
down_revision = '0005_change_counters'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'channels',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=32), nullable=True),
        sa.Column('name_key', sa.String(length=LONGEST_KEY), nullable=True),
        sa.Column('direct_key', sa.String(length=64), nullable=True),
        sa.Column('topic', sa.String(length=LONGEST_TOPIC), server_default='', nullable=False),
        sa.Column('creator_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['creator_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name_key'),
        sa.UniqueConstraint('direct_key'),
    )
    op.create_index('ix_channels_updated_at', 'channels', ['updated_at'])
    add_general_channel(op.get_bind())

    op.create_table(
        'memberships',
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('joined_at', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channels.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('channel_id', 'user_id'),
    )
    op.create_index('ix_memberships_user_id', 'memberships', ['user_id'])
    op.execute(
        'INSERT INTO memberships (channel_id, user_id, joined_at) '
        f'SELECT {GENERAL_CHANNEL_ID}, id, created_at FROM users'
    )

    column = sa.Column('channel_id', sa.Integer(), nullable=False, server_default=str(GENERAL_CHANNEL_ID))
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a column that references another table to a table
        # with rows only by copying the table, which drops its triggers:
        # the change-counting ones are made again.
        with op.batch_alter_table('messages', recreate='always') as batch:
            batch.add_column(column)
            batch.create_foreign_key('messages_channel_id_fkey', 'channels', ['channel_id'], ['id'])
        for statement in counting_ddl('sqlite', 'messages'):
            op.execute(statement)
    else:
        op.add_column('messages', column)
        op.create_foreign_key('messages_channel_id_fkey', 'messages', 'channels', ['channel_id'], ['id'])
    op.create_index('ix_messages_channel_id', 'messages', ['channel_id'])


def downgrade():
    op.drop_index('ix_messages_channel_id', table_name='messages')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('messages', recreate='always') as batch:
            batch.drop_constraint('messages_channel_id_fkey', type_='foreignkey')
            batch.drop_column('channel_id')
        for statement in counting_ddl('sqlite', 'messages'):
            op.execute(statement)
    else:
        op.drop_column('messages', 'channel_id')
    op.drop_index('ix_memberships_user_id', table_name='memberships')
    op.drop_table('memberships')
    op.drop_index('ix_channels_updated_at', table_name='channels')
    op.drop_table('channels')
