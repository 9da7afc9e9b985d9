"""Packaging for a Heroku-style platform: app.json, Procfile, Python version,
configuration errors, logs and the release step (foreman and honcho on a .env
made from .env.example: test_platform_tools.py)."""

import copy
import json
import re
import secrets
import subprocess
import sys

import jsonschema_rs
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flack.config import load_settings, load_web_server_settings
from flack.extensions import db

from .live import ROOT, LiveFlack, child_environ, flack_settings, procfile_commands
from .services import PostgresDatabase, engine_for
from .test_scaled import Api

# Set by the platform or an add-on, not by app.json's env.
PROVIDED_BY_PLATFORM = {'PORT', 'DATABASE_URL', 'REDIS_URL'}
# A SECRET_KEY as strong as production asks (flack.config).
STRONG_KEY = secrets.token_hex(32)


def _app_json():
    return json.loads((ROOT / 'app.json').read_text())


# Heroku's published JSON Schema of app.json; tests/data/README.md says where it comes from.
APP_JSON_SCHEMA = ROOT / 'tests' / 'data' / 'app-json-schema.json'


def _app_json_schema():
    return json.loads(APP_JSON_SCHEMA.read_text())


def _schema_errors(app):
    validator = jsonschema_rs.validator_for(_app_json_schema())
    return [
        '/'.join(map(str, error.instance_path)) + ': ' + error.message for error in validator.iter_errors(app)
    ]


def _without_documented_extras(app):
    """app.json less what Heroku documents but its schema leaves out: the test-setup
    script that Heroku CI runs before the test script (the CI run lifecycle, step 4)."""
    app = copy.deepcopy(app)
    scripts = app.get('environments', {}).get('test', {}).get('scripts', {})
    assert isinstance(scripts.pop('test-setup', ''), str)
    return app


def _readme_deploy_section():
    readme = (ROOT / 'README.md').read_text()
    section = readme[readme.index('\n## Deploy\n') + 1 :]
    return section[: section.index('\n## ')]


def test_app_json_is_valid_against_herokus_published_schema():
    assert _schema_errors(_without_documented_extras(_app_json())) == []


@pytest.mark.parametrize(
    'breaks',
    [
        lambda app: app.update(procfile='web: gunicorn'),
        lambda app: app['formation']['web'].update(size='standard-3x'),
        lambda app: app['formation']['web'].pop('quantity'),
        lambda app: next(iter(app['env'].values())).update(value=1),
        lambda app: app['env']['SECRET_KEY'].update(generator='uuid'),
        lambda app: app['buildpacks'].append({'name': 'heroku/python'}),
        lambda app: app['addons'].append({'as': 'CACHE'}),
        lambda app: app['environments'].update(staging={}),
    ],
    ids=[
        'unknown key',
        'dyno size',
        'no quantity',
        'env value',
        'generator',
        'buildpack',
        'addon',
        'environment',
    ],
)
def test_app_json_schema_rejects_what_the_platform_refuses(breaks):
    app = _without_documented_extras(_app_json())
    breaks(app)

    assert _schema_errors(app) != []


def test_app_json_describes_each_setting_and_generates_the_secret_key():
    app = _app_json()

    assert app['name'] and app['description'] and app['keywords']
    for name, entry in app['env'].items():
        assert entry['description'], name
        assert 'value' in entry or entry.get('generator') == 'secret', name
    assert app['env']['SECRET_KEY'] == {
        'description': app['env']['SECRET_KEY']['description'],
        'generator': 'secret',
    }


def test_app_json_describes_every_setting_and_only_those():
    app = _app_json()

    assert set(app['env']) | PROVIDED_BY_PLATFORM == flack_settings()
    assert app['env']['LINK_PREVIEWS_ALLOW_PRIVATE']['value'] == '0'
    assert app['env']['FLACK_ENV']['value'] == 'production'


def test_app_json_adds_postgresql_and_redis_and_runs_every_process_type():
    app = _app_json()

    plans = [addon['plan'] if isinstance(addon, dict) else addon for addon in app['addons']]
    assert plans == ['heroku-postgresql:essential-0', 'heroku-redis:mini']
    assert set(app['formation']) == set(procfile_commands()) - {'release'}
    assert all(entry['quantity'] >= 1 for entry in app['formation'].values())
    # Eco and Basic dynos run one dyno per process type and are not mixed with larger ones.
    sizes = {entry['size'] for entry in app['formation'].values()}
    if sizes & {'eco', 'basic'}:
        assert len(sizes) == 1 and all(entry['quantity'] == 1 for entry in app['formation'].values())
    # Node.js first: it runs `npm ci` for the browser client's Socket.IO library.
    assert app['buildpacks'] == [{'url': 'heroku/nodejs'}, {'url': 'heroku/python'}]
    test = app['environments']['test']
    assert {'heroku-postgresql:in-dyno', 'heroku-redis:in-dyno'} <= set(test['addons'])
    assert 'pytest' in test['scripts']['test']


def test_readme_deploy_builds_and_provisions_what_app_json_does():
    section = _readme_deploy_section()
    app = _app_json()

    buildpacks = re.findall(r'^heroku buildpacks:add (\S+)$', section, re.MULTILINE)
    assert buildpacks == [buildpack['url'] for buildpack in app['buildpacks']]
    plans = re.findall(r'^heroku addons:create (\S+)$', section, re.MULTILINE)
    assert plans == [addon['plan'] for addon in app['addons']]


# Unset on the platform, these take the buildpack's value, not Flack's default.
SET_BY_THE_BUILDPACK = {'WEB_CONCURRENCY'}


def _changes_a_setting(name, value):
    """Whether ``name=value`` gives other settings than leaving ``name`` unset."""
    base = {'FLACK_ENV': 'production', 'SECRET_KEY': STRONG_KEY}
    changed = {**base, name: value}
    return load_settings('instance', changed) != load_settings('instance', base) or load_web_server_settings(
        changed
    ) != load_web_server_settings(base)


def test_readme_deploy_sets_by_hand_what_the_button_sets_beyond_the_defaults():
    command = re.search(r'^heroku config:set (.*?[^\\])$', _readme_deploy_section(), re.MULTILINE | re.DOTALL)
    assignments = dict(re.findall(r'([A-Z][A-Z0-9_]*)=(\S+)', command.group(1)))
    needed = {
        name: entry['value']
        for name, entry in _app_json()['env'].items()
        if 'value' in entry and (name in SET_BY_THE_BUILDPACK or _changes_a_setting(name, entry['value']))
    }

    # A new key of 32 random bytes, made where the command is pasted.
    assert "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')" in command.group(1)
    del assignments['SECRET_KEY']
    assert assignments == needed


def test_readme_deploy_scales_every_process_type_to_an_app_json_dyno_size():
    sizes = set(_app_json_schema()['definitions']['dynoSize']['enum'])
    process_types = set(procfile_commands()) - {'release'}
    commands = re.findall(r'^heroku ps:scale ([^#\n]+)', _readme_deploy_section(), re.MULTILINE)

    assert commands
    for command in commands:
        # TYPE=QUANTITY:SIZE, the form the CLI's ps:scale parses.
        changes = [re.fullmatch(r'([\w-]+)=(\d+):([\w-]+)', argument) for argument in command.split()]
        assert all(changes), command
        formation = {change[1]: (int(change[2]), change[3]) for change in changes}
        assert set(formation) == process_types, command
        used = {size for _, size in formation.values()}
        assert used <= sizes, command
        if used & {'eco', 'basic'}:
            assert len(used) == 1 and all(quantity == 1 for quantity, _ in formation.values()), command


def test_procfile_declares_the_four_process_types():
    commands = procfile_commands()

    assert set(commands) == {'web', 'worker', 'clock', 'release'}
    # An empty WEB_CONCURRENCY would stop gunicorn as it is imported: the default instead.
    assert commands['web'] == (
        'WEB_CONCURRENCY=${WEB_CONCURRENCY:-1} exec gunicorn --config gunicorn.conf.py flack.wsgi:app'
    )
    assert 'REMAP_SIGTERM=SIGQUIT' in commands['worker']
    assert 'db upgrade' in commands['release']


def test_runtime_python_version_and_ci_agree():
    pinned = (ROOT / '.python-version').read_text().strip()
    runtime = (ROOT / 'runtime.txt').read_text().strip()

    # Major.minor only: the buildpack installs that version's latest patch release on each build.
    assert re.fullmatch(r'3\.\d+', pinned)
    # The buildpack reads runtime.txt ahead of .python-version: both name the same version.
    assert runtime == f'python-{pinned}'
    # The interpreter running this test is the one CI (and make test) uses.
    assert f'{sys.version_info.major}.{sys.version_info.minor}' == pinned


def test_readme_configuration_table_lists_every_setting():
    readme = (ROOT / 'README.md').read_text()
    section = readme[readme.index('## Configuration') :]
    section = section[: section.index('\n## ', 4)]

    assert set(re.findall(r'^\| `([A-Z][A-Z0-9_]*)` \|', section, re.MULTILINE)) == flack_settings()


@pytest.mark.parametrize(
    ('environ', 'named'),
    [
        ({}, 'SECRET_KEY'),
        ({'SECRET_KEY': STRONG_KEY, 'PORT': 'eighty'}, 'PORT'),
        ({'SECRET_KEY': STRONG_KEY, 'DATABASE_URL': 'nonsense'}, 'DATABASE_URL'),
        ({'SECRET_KEY': STRONG_KEY, 'REDIS_URL': 'http://cache:6379'}, 'REDIS_URL'),
        ({'SECRET_KEY': STRONG_KEY, 'PRESENCE_TIMEOUT': '1.5'}, 'PRESENCE_TIMEOUT'),
    ],
)
@pytest.mark.parametrize('process_type', ['web', 'worker', 'release'])
def test_a_bad_setting_stops_a_process_with_one_line_naming_it(tmp_path, process_type, environ, named):
    command = procfile_commands()[process_type]
    done = subprocess.run(
        ['bash', '-c', command],
        cwd=ROOT,
        env=child_environ({'PORT': '5999', **environ}),
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

        engine = engine_for(database.url)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        engine.dispose()
    finally:
        database.drop()

    assert differences == []


def test_manage_config_prints_the_settings_with_secrets_masked():
    environ = child_environ(
        {
            'SECRET_KEY': STRONG_KEY,
            'DATABASE_URL': 'postgres://flack:db-password@db.example:5432/flack',
            'REDIS_URL': 'rediss://:redis-password@redis.example:6380',
        }
    )
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
    for secret in (STRONG_KEY, 'db-password', 'redis-password'):
        assert secret not in done.stdout + done.stderr
