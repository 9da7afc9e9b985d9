"""Settings, read from the environment in one place and checked at start-up.

Nothing else in Flack reads ``os.environ``: the rest of the code asks the
Flask config. Every variable read here is documented in ``.env.example``.
"""

import os
import secrets
from pathlib import Path

ENVIRONMENTS = ('production', 'development', 'testing')
# gevent, the tested alternative, arrives with the scaled mode.
ASYNC_MODES = ('eventlet',)
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _integer(environ, name, default, minimum=0):
    raw = environ.get(name)
    if raw is None or raw == '':
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f'{name} must be an integer, got {raw!r}') from None
    if value < minimum:
        raise ConfigError(f'{name} must be at least {minimum}, got {value}')
    return value


def _number(environ, name, default):
    raw = environ.get(name)
    if raw is None or raw == '':
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f'{name} must be a number, got {raw!r}') from None
    if value <= 0:
        raise ConfigError(f'{name} must be positive, got {raw!r}')
    return value


def _flag(environ, name, default):
    raw = environ.get(name)
    if raw is None or raw == '':
        return default
    if raw.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if raw.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise ConfigError(f'{name} must be 0 or 1, got {raw!r}')


def _choice(environ, name, default, choices):
    value = environ.get(name) or default
    if value not in choices:
        raise ConfigError(f'{name} must be one of {", ".join(choices)}, got {value!r}')
    return value


def _log_level(environ, environment):
    default = 'DEBUG' if environment == 'development' else 'INFO'
    value = (environ.get('LOG_LEVEL') or default).upper()
    if value not in LOG_LEVELS:
        raise ConfigError(f'LOG_LEVEL must be one of {", ".join(LOG_LEVELS)}, got {value!r}')
    return value


def _database_url(environ):
    url = environ.get('DATABASE_URL') or None
    if url is None:
        return None
    # PaaS add-ons hand out postgres://, which SQLAlchemy 1.4+ no longer accepts.
    if url.startswith('postgres://'):
        url = 'postgresql://' + url[len('postgres://') :]
    if '://' not in url:
        raise ConfigError('DATABASE_URL is not a database URL')
    return url


def _secret_key(environ, environment, instance_path):
    key = environ.get('SECRET_KEY')
    if key:
        return key
    if environment == 'production':
        raise ConfigError('SECRET_KEY must be set in production (FLACK_ENV=production)')
    # Development and tests get a key kept in the instance folder, so that
    # tokens issued before a restart can still be handed back unchanged.
    path = Path(instance_path) / 'secret-key'
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def load_settings(instance_path, environ=None):
    """Return Flask config keys built from the environment variables."""
    environ = os.environ if environ is None else environ
    environment = _choice(environ, 'FLACK_ENV', 'production', ENVIRONMENTS)
    database_url = _database_url(environ) or f'sqlite:///{Path(instance_path) / "flack.sqlite"}'
    origins = environ.get('SOCKETIO_CORS_ORIGINS') or ''
    transports = environ.get('SOCKETIO_TRANSPORTS') or 'polling,websocket'
    transport_list = [t.strip() for t in transports.split(',') if t.strip()]
    if not transport_list or set(transport_list) - {'polling', 'websocket'}:
        raise ConfigError('SOCKETIO_TRANSPORTS must list polling and/or websocket')
    return {
        'FLACK_ENV': environment,
        'TESTING': environment == 'testing',
        'SECRET_KEY': _secret_key(environ, environment, instance_path),
        'SQLALCHEMY_DATABASE_URI': database_url,
        'DATABASE_POOL_SIZE': _integer(environ, 'DATABASE_POOL_SIZE', 5, minimum=1),
        'PORT': _integer(environ, 'PORT', 5000, minimum=1),
        'WEB_CONCURRENCY': _integer(environ, 'WEB_CONCURRENCY', 1, minimum=1),
        'ASYNC_MODE': _choice(environ, 'ASYNC_MODE', 'eventlet', ASYNC_MODES),
        'SOCKETIO_TRANSPORTS': transport_list,
        'SOCKETIO_CORS_ORIGINS': [o.strip() for o in origins.split(',') if o.strip()],
        'PRESENCE_TIMEOUT': _integer(environ, 'PRESENCE_TIMEOUT', 60, minimum=1),
        'REQUEST_STATS_WINDOW': _integer(environ, 'REQUEST_STATS_WINDOW', 15, minimum=1),
        'MAX_MESSAGE_LENGTH': _integer(environ, 'MAX_MESSAGE_LENGTH', 65536, minimum=1),
        'PASSWORD_MIN_LENGTH': _integer(environ, 'PASSWORD_MIN_LENGTH', 8, minimum=1),
        'LINK_PREVIEWS': _flag(environ, 'LINK_PREVIEWS', True),
        'LINK_PREVIEWS_ALLOW_PRIVATE': _flag(environ, 'LINK_PREVIEWS_ALLOW_PRIVATE', False),
        'LINK_PREVIEW_TIMEOUT': _number(environ, 'LINK_PREVIEW_TIMEOUT', 5.0),
        'LOG_LEVEL': _log_level(environ, environment),
    }


def load_web_server_settings(environ=None):
    """What gunicorn needs to know, read before the application is imported.

    One worker process: the embedded mode keeps presence, statistics and the
    Socket.IO clients in the memory of one process, so a second worker would
    see none of them.
    """
    environ = os.environ if environ is None else environ
    requested = _integer(environ, 'WEB_CONCURRENCY', 1, minimum=1)
    return {
        'port': _integer(environ, 'PORT', 5000, minimum=1),
        'async_mode': _choice(environ, 'ASYNC_MODE', 'eventlet', ASYNC_MODES),
        'workers': 1,
        'requested_workers': requested,
        'log_level': _log_level(environ, 'production').lower(),
    }
