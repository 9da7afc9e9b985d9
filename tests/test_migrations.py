"""The migrations, not create_all, build the schema, and match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from flack import create_app
from flack.extensions import db

from .conftest import make_environ


def test_upgrading_an_empty_database_builds_the_schema_of_the_models(tmp_path):
    app = create_app(make_environ(tmp_path), process='cli')
    with app.app_context():
        upgrade()
        upgrade()  # a second release on the same database is a no-op

        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)

    assert differences == []
