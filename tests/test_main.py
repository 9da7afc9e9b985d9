"""The page and the operational routes."""

import time

from flack import create_app
from flack.stats import MemoryRequestCounter

from .conftest import make_environ


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


def test_the_request_counter_forgets_requests_older_than_the_window():
    counter = MemoryRequestCounter(window=10)
    for second in range(100, 130):
        counter.record(second + 0.5)

    assert counter.rate(now=129.9) == 1.0
    assert counter.rate(now=200) == 0.0


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


def test_the_openapi_document_is_served(client):
    # Its routes and statuses are checked in test_api_fuzz.py, against the contract.
    document = client.get('/api/openapi.json').json

    assert document['openapi'].startswith('3.')
    assert document['info']['title'] == 'Flack'


def test_timestamps_are_integer_seconds(client, susan):
    user = client.get(f'/api/users/{susan.id}').json

    assert abs(user['created_at'] - time.time()) < 5
