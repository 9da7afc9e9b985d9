"""Settings from the environment, checked at start-up."""

import re
from pathlib import Path

import pytest

from flack.config import RATE_LIMITS, ConfigError, load_settings, load_web_server_settings


def test_defaults_are_the_embedded_mode_on_sqlite(tmp_path):
    settings = load_settings(tmp_path, {'SECRET_KEY': 'k'})

    assert settings['FLACK_ENV'] == 'production'
    assert settings['SQLALCHEMY_DATABASE_URI'] == f'sqlite:///{tmp_path / "flack.sqlite"}'
    assert settings['REDIS_URL'] is None
    assert settings['PRESENCE_TIMEOUT'] == 60
    assert settings['REQUEST_STATS_WINDOW'] == 15
    assert settings['MAX_MESSAGE_LENGTH'] == 65536
    assert settings['LINK_PREVIEWS'] is True
    assert settings['LINK_PREVIEWS_ALLOW_PRIVATE'] is False


def test_production_requires_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match='SECRET_KEY'):
        load_settings(tmp_path, {})


def test_development_keeps_a_generated_secret_key_across_restarts(tmp_path):
    first = load_settings(tmp_path, {'FLACK_ENV': 'development'})['SECRET_KEY']
    second = load_settings(tmp_path, {'FLACK_ENV': 'development'})['SECRET_KEY']

    assert first == second and len(first) >= 32


@pytest.mark.parametrize('scheme', ['postgres', 'postgresql'])
def test_a_postgres_url_is_rewritten_for_sqlalchemy_and_psycopg2(tmp_path, scheme):
    settings = load_settings(tmp_path, {'SECRET_KEY': 'k', 'DATABASE_URL': f'{scheme}://u:p@db/flack'})

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
        ('LOG_LEVEL', 'loud'),
        ('REDIS_URL', 'http://localhost:6379'),
        ('DATABASE_POOL_SIZE', '0'),
    ],
)
def test_a_malformed_setting_is_an_error_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(tmp_path, {'SECRET_KEY': 'k', name: value})


def test_one_web_worker_unless_redis_and_websocket_only():
    assert load_web_server_settings({'WEB_CONCURRENCY': '4'})['workers'] == 1
    polling = {'WEB_CONCURRENCY': '4', 'REDIS_URL': 'redis://localhost'}
    assert load_web_server_settings(polling)['workers'] == 1
    scaled = {**polling, 'SOCKETIO_TRANSPORTS': 'websocket'}
    assert load_web_server_settings(scaled)['workers'] == 4


def test_every_variable_the_code_reads_is_documented_in_env_example():
    root = Path(__file__).resolve().parent.parent
    documented = set(re.findall(r'^([A-Z][A-Z0-9_]*)=', (root / '.env.example').read_text(), re.MULTILINE))
    config = (root / 'flack' / 'config.py').read_text()
    read = set(re.findall(r"environ(?:\.get\(|, )'([A-Z][A-Z0-9_]*)'", config)) | set(RATE_LIMITS)

    assert read == documented
    for path in [*root.glob('flack/**/*.py'), root / 'manage.py', root / 'gunicorn.conf.py']:
        if path.name != 'config.py':
            assert not re.search(r'os\.environ|getenv', path.read_text()), (
                f'{path.name} reads the environment'
            )
