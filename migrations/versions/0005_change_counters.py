"""change counters: one per table, bumped by the database in each change's transaction

Revision ID: 0005_change_counters
Revises: 0004_nicknames
Create Date: 2026-11-30 02:00:00.000000

Adds the change_counters table, rows for users and for messages, and
triggers that bump one of a table's rows in every transaction that changes
the table, so that every process can tell, with one small query, whether what
it cached is still what the database holds (flack.change_counters). The
triggers are those the application creates with ``create_all``: the
migration takes their text from the same place.
"""

import sqlalchemy as sa
from alembic import op

from flack.change_counters import COUNTED_TABLES, counting_ddl, first_counts, uncounting_ddl

# revision identifiers, used by Alembic.
revision = '0005_change_counters'
down_revision = '0004_nicknames'
branch_labels = None
depends_on = None


def upgrade():
    counters = op.create_table(
        'change_counters',
        sa.Column('table_name', sa.String(length=64), nullable=False),
        sa.Column('shard', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('table_name', 'shard'),
    )
    op.bulk_insert(counters, first_counts())
    dialect = op.get_bind().dialect.name
    for table in COUNTED_TABLES:
        for statement in counting_ddl(dialect, table.name):
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in COUNTED_TABLES:
        for statement in uncounting_ddl(dialect, table.name):
            op.execute(statement)
    if dialect == 'postgresql':
        op.execute('DROP FUNCTION flack_count_change()')
    op.drop_table('change_counters')
