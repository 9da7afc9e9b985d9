"""The page and the operational routes: /stats, /healthz (which asks each probe of the mode, flack.health)."""

from dataclasses import dataclass

import pytest

from flack import create_app

from .conftest import make_environ
from .test_health import Database


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
