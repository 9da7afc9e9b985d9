"""nickname keys: one person per nickname

Revision ID: 0004_nicknames
Revises: 0003_previews
Create Date: 2026-11-29 20:10:00.000000

Adds users.nickname_key, the folded form of each nickname (flack.nicknames:
NFKC, case folding, Unicode's confusable skeleton), fills it from the stored
nicknames and makes it unique, so that "Dave", "DAVE" and "dаve" (Cyrillic а)
can no longer be three accounts.

If stored nicknames already collide (two accounts whose nicknames fold to
one key), the migration changes nothing and stops with one message naming
every group of colliding nicknames with their user ids. Choosing which
account keeps a nickname is a person's decision, not a migration's: renaming
someone silently would lock them out of signing in. Rename all but one
account of each group, for example
``UPDATE users SET nickname = 'dave-2' WHERE id = 7``, and run the upgrade
again. The check runs before any change, so a stopped upgrade leaves the
database as it was (also on SQLite, whose schema changes are not
transactional here), and a release that runs it does not start.
"""
from collections import defaultdict

import sqlalchemy as sa
from alembic import context, op
from alembic.util import CommandError

# The key must be the one the application computes for a new nickname, or
# signing in would not find the account: the migration uses the same code.
from flack.nicknames import LONGEST_KEY, fold_nickname

# revision identifiers, used by Alembic.
revision = '0004_nicknames'
down_revision = '0003_previews'
branch_labels = None
depends_on = None

users = sa.table(
    'users',
    sa.column('id', sa.Integer),
    sa.column('nickname', sa.String),
    sa.column('nickname_key', sa.String),
)


def upgrade():
    if context.is_offline_mode():
        raise CommandError('0004_nicknames computes keys from the stored nicknames: run it online.')
    connection = op.get_bind()
    if connection.dialect.name == 'postgresql':
        # The release before this one may still be registering users: none
        # may slip in, keyless, between reading the nicknames and the index.
        op.execute('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE')
    rows = connection.execute(sa.select(users.c.id, users.c.nickname).order_by(users.c.id))
    nicknames = dict(rows.all())
    keys = {user_id: fold_nickname(nickname) for user_id, nickname in nicknames.items()}
    _stop_on_collisions(nicknames, keys)

    # Plain ALTERs, no batch: on SQLite a batch copies the users table,
    # which the foreign keys of messages forbid while the application's
    # PRAGMA foreign_keys is on. So the column is NOT NULL from the start,
    # with a default for the rows already there (the only way SQLite adds a
    # NOT NULL column), and the default stays on SQLite, where dropping it
    # would need that copy. It is never used: the application sets the key
    # of every user it stores.
    op.add_column(
        'users', sa.Column('nickname_key', sa.String(length=LONGEST_KEY), server_default='', nullable=False)
    )
    if keys:
        fill = users.update().where(users.c.id == sa.bindparam('user_id'))
        connection.execute(
            fill.values(nickname_key=sa.bindparam('key')),
            [{'user_id': user_id, 'key': key} for user_id, key in keys.items()],
        )
    if connection.dialect.name != 'sqlite':
        op.alter_column(
            'users', 'nickname_key', existing_type=sa.String(length=LONGEST_KEY), server_default=None
        )
    op.create_index(op.f('ix_users_nickname_key'), 'users', ['nickname_key'], unique=True)


def _stop_on_collisions(nicknames, keys):
    groups = defaultdict(list)
    for user_id, key in keys.items():
        groups[key].append(user_id)
    collisions = [ids for ids in groups.values() if len(ids) > 1]
    if not collisions:
        return
    lines = [
        ', '.join(f'{nicknames[user_id]!r} (id {user_id})' for user_id in ids) for ids in collisions
    ]
    raise CommandError(
        f'{len(collisions)} group(s) of nicknames cannot be told apart once folded '
        '(case, width, lookalike characters), so nicknames cannot be made unique:\n  '
        + '\n  '.join(lines)
        + '\nNothing was changed. Rename all but one account of each group and upgrade again.'
    )


def downgrade():
    # Not in a batch either: SQLite 3.35 and later drop a column in place.
    op.drop_index(op.f('ix_users_nickname_key'), table_name='users')
    op.drop_column('users', 'nickname_key')
