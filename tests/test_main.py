"""The page and the operational routes; both health probes held to one contract."""

import shutil
import time
from dataclasses import dataclass

import pytest

from flack import create_app
from flack.extensions import db
from flack.health import DatabaseProbe, RedisProbe

from .conftest import make_environ
from .test_redis_client import redis_connection, redis_server  # noqa: F401  (fixtures)


def test_the_page_loads(client):
    response = client.get('/')

    assert response.status_code == 200
    assert b'<title>Flack</title>' in response.data


def test_stats_report_requests_per_second_over_the_window(app, client):
    window = app.config['REQUEST_STATS_WINDOW']
    for _ in range(29):
        client.get('/api/users')

    rate = client.get('/stats').json['requests_per_second']

    assert rate == 30 / window  # 29 reads and the /stats request itself


def test_healthz_says_ok_when_the_database_answers(client):
    response = client.get('/healthz')

    assert response.status_code == 200
    assert response.json == {'status': 'ok', 'database': 'ok'}


def test_healthz_is_a_503_when_the_database_does_not_answer(tmp_path):
    unreachable = f'sqlite:///{tmp_path / "no such folder" / "flack.sqlite"}'
    app = create_app(make_environ(tmp_path, DATABASE_URL=unreachable))

    response = app.test_client().get('/healthz')

    assert response.status_code == 503
    # Named, so that whoever reads it knows which service is down.
    assert response.json == {'status': 'unavailable', 'database': 'unavailable'}


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


@dataclass
class Mode:
    settings: dict
    services: list
    stops: str
    stop: object


@pytest.fixture(params=['embedded', 'scaled'])
def mode(request, tmp_path):
    """Each mode: its settings, the services it depends on, which one the test stops and how."""
    database = Database(tmp_path)
    if request.param == 'embedded':
        return Mode({'DATABASE_URL': database.url}, ['database'], 'database', database.stop)
    redis = request.getfixturevalue('redis_server')
    settings = {'DATABASE_URL': database.url, 'REDIS_URL': redis.url}
    return Mode(settings, ['database', 'redis'], 'redis', lambda app: redis.stop())


def test_healthz_asks_each_service_of_the_mode(tmp_path, mode):
    app = create_app(make_environ(tmp_path, **mode.settings))
    client = app.test_client()

    up = client.get('/healthz')
    mode.stop(app)
    down = client.get('/healthz')

    assert up.status_code == 200
    assert up.json == {'status': 'ok', **dict.fromkeys(mode.services, 'ok')}
    assert down.status_code == 503
    assert down.json == {
        'status': 'unavailable',
        **dict.fromkeys(mode.services, 'ok'),
        mode.stops: 'unavailable',
    }


def test_the_openapi_document_is_served(client):
    # Its routes and statuses are checked in test_api_fuzz.py, against the contract.
    document = client.get('/api/openapi.json').json

    assert document['openapi'].startswith('3.')
    assert document['info']['title'] == 'Flack'


def test_timestamps_are_integer_seconds(client, susan):
    user = client.get(f'/api/users/{susan.id}').json

    assert abs(user['created_at'] - time.time()) < 5
