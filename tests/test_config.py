"""Settings from the environment, checked at start-up."""

import re
import secrets

import pytest
from gunicorn.config import Config as GunicornConfig

from flack.config import ConfigError, environ_for_gunicorn, load_settings, load_web_server_settings

from .live import ROOT, flack_settings

# What the README says to generate for production.
KEY = secrets.token_hex(32)


def test_defaults_are_the_embedded_mode_on_sqlite(tmp_path):
    settings = load_settings(tmp_path, {'SECRET_KEY': KEY})

    assert settings['FLACK_ENV'] == 'production'
    assert settings['SQLALCHEMY_DATABASE_URI'] == f'sqlite:///{tmp_path / "flack.sqlite"}'
    assert settings['REDIS_URL'] is None
    assert settings['PRESENCE_TIMEOUT'] == 60
    assert settings['REQUEST_STATS_WINDOW'] == 15
    assert settings['MAX_MESSAGE_LENGTH'] == 65536
    assert settings['LINK_PREVIEWS'] is True
    assert settings['LINK_PREVIEWS_ALLOW_PRIVATE'] is False
    # Reached directly, no proxy is trusted: X-Forwarded-* are the client's own words.
    assert settings['TRUSTED_PROXY_HOPS'] == 0


def test_production_requires_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match='SECRET_KEY'):
        load_settings(tmp_path, {})


@pytest.mark.parametrize(
    'key',
    [
        'x',
        'live-test-secret',
        'correct horse battery staple',
        'a' * 100,
        'abababababababababababababababababababababababababababababababababab',
        secrets.token_hex(16),  # 16 bytes
        secrets.token_hex(32)[:60],
    ],
)
def test_production_refuses_a_secret_key_with_less_than_32_bytes_of_entropy(tmp_path, key):
    with pytest.raises(ConfigError, match='SECRET_KEY') as refused:
        load_settings(tmp_path, {'SECRET_KEY': key})
    with pytest.raises(ConfigError) as another:
        load_settings(tmp_path, {'SECRET_KEY': 'another weak key'})

    assert str(refused.value) == str(another.value)  # the key itself is never printed


@pytest.mark.parametrize(
    'make_key',
    [
        lambda: secrets.token_hex(32),
        lambda: secrets.token_hex(32).upper(),
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_urlsafe(48),
        lambda: ''.join(secrets.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(50)),
    ],
    ids=['token_hex(32)', 'hex, upper case', 'token_urlsafe(32)', 'token_urlsafe(48)', '50 of [a-z0-9]'],
)
def test_production_accepts_generated_secret_keys(tmp_path, make_key):
    for _ in range(200):  # generated keys vary: each one must pass
        key = make_key()
        assert load_settings(tmp_path, {'SECRET_KEY': key})['SECRET_KEY'] == key


@pytest.mark.parametrize('environment', ['development', 'testing'])
def test_a_short_secret_key_is_accepted_outside_production(tmp_path, environment):
    assert load_settings(tmp_path, {'FLACK_ENV': environment, 'SECRET_KEY': 'x'})['SECRET_KEY'] == 'x'


def test_development_keeps_a_generated_secret_key_across_restarts(tmp_path):
    first = load_settings(tmp_path, {'FLACK_ENV': 'development'})['SECRET_KEY']
    second = load_settings(tmp_path, {'FLACK_ENV': 'development'})['SECRET_KEY']

    assert first == second and len(first) >= 32


@pytest.mark.parametrize('scheme', ['postgres', 'postgresql'])
def test_a_postgres_url_is_rewritten_for_sqlalchemy_and_psycopg2(tmp_path, scheme):
    settings = load_settings(tmp_path, {'SECRET_KEY': KEY, 'DATABASE_URL': f'{scheme}://u:p@db/flack'})

    assert settings['SQLALCHEMY_DATABASE_URI'] == 'postgresql+psycopg2://u:p@db/flack'


@pytest.mark.parametrize(
    ('name', 'value'),
    [
        ('PRESENCE_TIMEOUT', 'soon'),
        ('PORT', '0'),
        ('MAX_MESSAGE_LENGTH', '1.5'),
        ('LINK_PREVIEWS', 'maybe'),
        ('LINK_PREVIEW_TIMEOUT', '-1'),
        ('FLACK_ENV', 'staging'),
        ('ASYNC_MODE', 'asyncio'),
        ('DATABASE_URL', 'not a url'),
        ('SOCKETIO_TRANSPORTS', 'carrier-pigeon'),
        ('WEBSOCKET_COMPRESSION', 'maximum'),
        ('LOG_LEVEL', 'loud'),
        ('REDIS_URL', 'http://localhost:6379'),
        ('DATABASE_POOL_SIZE', '0'),
        ('TRUSTED_PROXY_HOPS', '-1'),
        ('TRUSTED_PROXY_HOPS', 'router'),
    ],
)
def test_a_malformed_setting_is_an_error_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(tmp_path, {'SECRET_KEY': KEY, name: value})


def test_one_web_worker_unless_redis_and_websocket_only():
    assert load_web_server_settings({'WEB_CONCURRENCY': '4'})['workers'] == 1
    polling = {'WEB_CONCURRENCY': '4', 'REDIS_URL': 'redis://localhost'}
    assert load_web_server_settings(polling)['workers'] == 1
    scaled = {**polling, 'SOCKETIO_TRANSPORTS': 'websocket'}
    assert load_web_server_settings(scaled)['workers'] == 4


@pytest.mark.parametrize('hops, believed_from', [('0', []), ('', []), ('1', ['*']), ('2', ['*'])])
def test_gunicorn_believes_x_forwarded_proto_only_behind_a_trusted_proxy(hops, believed_from):
    # gunicorn.conf.py's forwarded_allow_ips, as gunicorn reads it: [] is no
    # peer (its default is 127.0.0.1), '*' any, the router's included.
    settings = load_web_server_settings({'TRUSTED_PROXY_HOPS': hops})
    gunicorn = GunicornConfig()
    gunicorn.set('forwarded_allow_ips', settings['forwarded_allow_ips'])

    assert gunicorn.forwarded_allow_ips == believed_from


def test_every_variable_the_code_reads_is_documented_in_env_example():
    documented = flack_settings()
    config = (ROOT / 'flack' / 'config.py').read_text()
    read = set(re.findall(r"environ(?:\.get\(|, )'([A-Z][A-Z0-9_]*)'", config))

    assert read == documented
    for path in [*ROOT.glob('flack/**/*.py'), ROOT / 'manage.py', ROOT / 'gunicorn.conf.py']:
        if path.name != 'config.py':
            assert not re.search(r'os\.environ|getenv', path.read_text()), (
                f'{path.name} reads the environment'
            )


@pytest.mark.parametrize('name', sorted(flack_settings()))
def test_an_empty_setting_is_the_same_as_an_unset_one(tmp_path, name):
    # What a .env line NAME= or a blank config var gives. In development, so
    # that an unset SECRET_KEY is no error either.
    environ = {'FLACK_ENV': 'development', 'SECRET_KEY': KEY}
    unset = {key: value for key, value in environ.items() if key != name}
    empty = {**environ, name: ''}

    assert load_settings(tmp_path, empty) == load_settings(tmp_path, unset)
    assert load_web_server_settings(empty) == load_web_server_settings(unset)


def test_gunicorn_starts_without_the_empty_settings_it_reads_itself():
    # gunicorn would stop at int('') as it is imported; Flack reads the others.
    environ = {
        'WEB_CONCURRENCY': '',
        'PORT': '',
        'REDIS_URL': '',
        'WORKER_CONCURRENCY': '3',
        'LANG': 'C.UTF-8',
    }

    assert environ_for_gunicorn(environ) == {'REDIS_URL': '', 'WORKER_CONCURRENCY': '3', 'LANG': 'C.UTF-8'}
    assert environ_for_gunicorn({'WEB_CONCURRENCY': '4', 'PORT': '80'}) == {
        'WEB_CONCURRENCY': '4',
        'PORT': '80',
    }


def test_redis_max_connections_defaults_to_two_and_must_be_positive(tmp_path):
    assert load_settings(tmp_path, {'SECRET_KEY': KEY})['REDIS_MAX_CONNECTIONS'] == 2
    assert (
        load_settings(tmp_path, {'SECRET_KEY': KEY, 'REDIS_MAX_CONNECTIONS': ''})['REDIS_MAX_CONNECTIONS']
        == 2
    )
    assert (
        load_settings(tmp_path, {'SECRET_KEY': KEY, 'REDIS_MAX_CONNECTIONS': '4'})['REDIS_MAX_CONNECTIONS']
        == 4
    )
    with pytest.raises(ConfigError, match='REDIS_MAX_CONNECTIONS'):
        load_settings(tmp_path, {'SECRET_KEY': KEY, 'REDIS_MAX_CONNECTIONS': '0'})
