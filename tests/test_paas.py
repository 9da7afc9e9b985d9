"""Packaging for a Heroku-style platform: app.json, Procfile, Python version,
configuration errors, logs, the release step and honcho from .env.example."""

import json
import re
import subprocess
import sys

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flack.extensions import db

from .live import ROOT, LiveFlack, procfile_commands
from .services import PostgresDatabase, RedisServer
from .test_scaled import Api, Honcho

# The documented top-level keys of app.json, and those of an env entry.
APP_JSON_KEYS = {
    'name',
    'description',
    'keywords',
    'website',
    'repository',
    'logo',
    'success_url',
    'scripts',
    'env',
    'formation',
    'image',
    'addons',
    'buildpacks',
    'environments',
    'stack',
}
ENV_ENTRY_KEYS = {'description', 'value', 'required', 'generator'}
# Set by the platform or an add-on, not by app.json's env.
PROVIDED_BY_PLATFORM = {'PORT', 'DATABASE_URL', 'REDIS_URL'}


def _app_json():
    return json.loads((ROOT / 'app.json').read_text())


def _documented_variables():
    return set(re.findall(r'^([A-Z][A-Z0-9_]*)=', (ROOT / '.env.example').read_text(), re.MULTILINE))


def test_app_json_uses_only_documented_fields():
    app = _app_json()

    assert set(app) <= APP_JSON_KEYS
    assert app['name'] and app['description'] and app['keywords']
    for name, entry in app['env'].items():
        assert isinstance(entry, dict) and set(entry) <= ENV_ENTRY_KEYS, name
        assert entry['description'], name
        assert 'value' in entry or entry.get('generator') == 'secret', name
    assert app['env']['SECRET_KEY'] == {
        'description': app['env']['SECRET_KEY']['description'],
        'generator': 'secret',
    }


def test_app_json_describes_every_setting_and_only_those():
    app = _app_json()

    assert set(app['env']) | PROVIDED_BY_PLATFORM == _documented_variables()
    assert app['env']['LINK_PREVIEWS_ALLOW_PRIVATE']['value'] == '0'
    assert app['env']['FLACK_ENV']['value'] == 'production'


def test_app_json_adds_postgresql_and_redis_and_runs_every_process_type():
    app = _app_json()

    plans = [addon['plan'] if isinstance(addon, dict) else addon for addon in app['addons']]
    assert plans == ['heroku-postgresql:essential-0', 'heroku-redis:mini']
    assert set(app['formation']) == set(procfile_commands()) - {'release'}
    assert all(entry['quantity'] >= 1 for entry in app['formation'].values())
    # Node.js first: it runs `npm ci` for the browser client's Socket.IO library.
    assert app['buildpacks'] == [{'url': 'heroku/nodejs'}, {'url': 'heroku/python'}]
    test = app['environments']['test']
    assert {'heroku-postgresql:in-dyno', 'heroku-redis:in-dyno'} <= set(test['addons'])
    assert 'pytest' in test['scripts']['test']


def test_procfile_declares_the_four_process_types():
    commands = procfile_commands()

    assert set(commands) == {'web', 'worker', 'clock', 'release'}
    assert commands['web'] == 'exec gunicorn --config gunicorn.conf.py flack.wsgi:app'
    assert 'REMAP_SIGTERM=SIGQUIT' in commands['worker']
    assert 'db upgrade' in commands['release']


def test_runtime_python_version_and_ci_agree():
    pinned = (ROOT / '.python-version').read_text().strip()
    runtime = (ROOT / 'runtime.txt').read_text().strip()

    assert re.fullmatch(r'3\.\d+', pinned)
    assert runtime.startswith(f'python-{pinned}.')
    # The interpreter running this test is the one CI (and make test) uses.
    assert f'{sys.version_info.major}.{sys.version_info.minor}' == pinned


def test_readme_configuration_table_lists_every_setting():
    readme = (ROOT / 'README.md').read_text()
    section = readme[readme.index('## Configuration') :]
    section = section[: section.index('\n## ', 4)]

    assert set(re.findall(r'^\| `([A-Z][A-Z0-9_]*)` \|', section, re.MULTILINE)) == _documented_variables()


@pytest.mark.parametrize(
    ('environ', 'named'),
    [
        ({}, 'SECRET_KEY'),
        ({'SECRET_KEY': 'k', 'PORT': 'eighty'}, 'PORT'),
        ({'SECRET_KEY': 'k', 'DATABASE_URL': 'nonsense'}, 'DATABASE_URL'),
        ({'SECRET_KEY': 'k', 'REDIS_URL': 'http://cache:6379'}, 'REDIS_URL'),
        ({'SECRET_KEY': 'k', 'PRESENCE_TIMEOUT': '1.5'}, 'PRESENCE_TIMEOUT'),
    ],
)
@pytest.mark.parametrize('process_type', ['web', 'worker', 'release'])
def test_a_bad_setting_stops_a_process_with_one_line_naming_it(tmp_path, process_type, environ, named):
    command = procfile_commands()[process_type]
    path = f'{sys.executable.rsplit("/", 1)[0]}:/usr/bin:/bin'
    done = subprocess.run(
        ['bash', '-c', command],
        cwd=ROOT,
        env={'PATH': path, 'PORT': '5999', **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if 'config_error' in line]
    assert len(lines) == 1 and named in lines[0], done.stdout + done.stderr
    assert 'Traceback' not in done.stdout + done.stderr


def test_logs_of_a_session_hold_neither_its_token_nor_its_password(tmp_path):
    password = 'a-very-secret-password'
    with LiveFlack(tmp_path, LOG_LEVEL='DEBUG') as live:
        api = Api(live.url)
        assert (
            api.call('POST', '/api/users', json={'nickname': 'susan', 'password': password}).status_code
            == 201
        )
        token = api.call('POST', '/api/tokens', auth=('susan', password)).json()['token']
        api.call('GET', '/api/messages', token)
        api.call('POST', '/api/messages', token, json={'source': 'hello'})
        api.call('PUT', '/api/users/1', token, json={'password': password + '2'})
        api.call('GET', '/api/users', 'not-' + token)
        api.call('GET', f'/api/messages?token={token}')
    log = live.log.read_text()

    assert 'event=request method=POST path="/api/tokens" status=200' in log
    assert token not in log and password not in log


def test_an_access_line_carries_the_routers_request_id(tmp_path):
    with LiveFlack(tmp_path) as live:
        Api(live.url).http.get(f'{live.url}/api/users', headers={'X-Request-ID': 'abc-123'}, timeout=10)
    lines = [line for line in live.log.read_text().splitlines() if 'path="/api/users"' in line]

    assert len(lines) == 1
    assert re.search(
        r'method=GET path="/api/users" status=200 .*duration_ms=\d+ request_id=abc-123', lines[0]
    )


@pytest.mark.scaled
def test_the_release_step_twice_on_an_empty_postgresql_makes_the_models_schema(tmp_path):
    database = PostgresDatabase()
    try:
        live = LiveFlack(tmp_path, DATABASE_URL=database.url)
        live.run('release', capture_output=True)
        live.run('release', capture_output=True)

        engine = sqlalchemy.create_engine(database.url.replace('postgresql://', 'postgresql+psycopg2://'))
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        engine.dispose()
    finally:
        database.drop()

    assert differences == []


@pytest.mark.scaled
def test_honcho_runs_the_procfile_with_a_env_made_from_env_example(tmp_path):
    database = PostgresDatabase()
    redis_server = RedisServer(tmp_path).start()
    settings = dict(
        re.findall(r'^([A-Z][A-Z0-9_]*)=(.*)$', (ROOT / '.env.example').read_text(), re.MULTILINE)
    )
    settings.update(
        FLACK_ENV='production',
        SECRET_KEY='from-env-example',
        DATABASE_URL=database.url,
        REDIS_URL=redis_server.url,
        SOCKETIO_TRANSPORTS='websocket',
    )
    try:
        LiveFlack(tmp_path, **settings).run('release', capture_output=True)
        honcho = Honcho(tmp_path, settings, 'web=1,worker=1,clock=1')
        try:
            honcho.wait_until_ready(web_count=1)
            (url,) = honcho.web_urls(1)
            api = Api(url)
            _, token = api.new_user('susan')
            posted = api.post(token, 'hello from honcho')
            assert api.call('GET', f'/api/messages/{posted["id"]}').json() == posted
            api.http.close()  # an idle keep-alive connection would hold the web process
        finally:
            seconds = honcho.stop()
        output = honcho.log_path.read_text(errors='replace')
        assert seconds < 30, output[-3000:]
        stops = re.findall(r'system\s*\| (\w+\.\d) stopped \(rc=(-?\d+)\)', output)
        assert sorted(name for name, _ in stops) == ['clock.1', 'web.1', 'worker.1'], output[-3000:]
        assert all(code == '0' for _, code in stops), stops
    finally:
        redis_server.stop()
        database.drop()


def test_manage_config_prints_the_settings_with_secrets_masked():
    environ = {
        'PATH': f'{sys.executable.rsplit("/", 1)[0]}:/usr/bin:/bin',
        'SECRET_KEY': 'the-secret-key-itself',
        'DATABASE_URL': 'postgres://flack:db-password@db.example:5432/flack',
        'REDIS_URL': 'rediss://:redis-password@redis.example:6380',
    }
    done = subprocess.run(
        [sys.executable, 'manage.py', 'config'],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert 'SECRET_KEY=********' in done.stdout
    assert 'SQLALCHEMY_DATABASE_URI=postgresql+psycopg2://flack:********@db.example:5432/flack' in done.stdout
    assert 'REDIS_URL=rediss://:********@redis.example:6380' in done.stdout
    for secret in ('the-secret-key-itself', 'db-password', 'redis-password'):
        assert secret not in done.stdout + done.stderr
