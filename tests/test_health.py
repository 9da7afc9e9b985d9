"""Health probes: each says whether its service answers now, and never raises
(both held to one contract, on services of the test's own)."""

import shutil
from dataclasses import dataclass

import pytest

from flack import create_app
from flack.extensions import db
from flack.health import DatabaseProbe, RedisProbe

from .conftest import make_environ


class Database:
    """A SQLite database in a folder of its own, which ``stop`` takes away."""

    def __init__(self, tmp_path):
        self.folder = tmp_path / 'database'
        self.folder.mkdir()
        self.url = f'sqlite:///{self.folder / "flack.sqlite"}'

    def stop(self, app):
        shutil.rmtree(self.folder)
        with app.app_context():
            db.engine.dispose()  # no connection left open to the file


@dataclass
class Probed:
    probe: object
    stop: object


@pytest.fixture(params=['database', 'redis'])
def probed(request, tmp_path):
    """Each health probe, on a service of the test's own, and how to stop that service."""
    if request.param == 'redis':
        yield Probed(
            RedisProbe(request.getfixturevalue('redis_connection')),
            request.getfixturevalue('redis_server').stop,
        )
        return
    database = Database(tmp_path)
    app = create_app(make_environ(tmp_path, DATABASE_URL=database.url))

    def stop():
        db.session.remove()  # gives its connection back, for the engine to close
        database.stop(app)

    with app.app_context():
        yield Probed(DatabaseProbe(), stop)


def test_a_probe_says_whether_its_service_answers(probed):
    assert probed.probe.answers() is True

    probed.stop()

    assert probed.probe.answers() is False
