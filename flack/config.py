"""Settings, read from the environment in one place and checked at start-up.

Nothing else in Flack reads ``os.environ``: the rest of the code asks the
Flask config. Every variable read here is documented in ``.env.example``.
"""

import math
import os
import secrets
import string
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .logs import quote
from .nicknames import fold_nickname

# Where Flask keeps the instance folder of this package (SQLite file, dev key).
INSTANCE_PATH = Path(__file__).resolve().parent.parent / 'instance'
ENVIRONMENTS = ('production', 'development', 'testing')
ASYNC_MODES = ('eventlet', 'gevent')
# flack.realtime.compression
WEBSOCKET_COMPRESSIONS = ('small', 'full', 'off')
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
# The settings gunicorn itself reads from the environment, as well as Flack.
GUNICORN_READS = ('PORT', 'WEB_CONCURRENCY')

# A production SECRET_KEY holds at least 32 bytes of entropy: what
# secrets.token_hex(32) prints (.env.example, README) and Heroku's "secret"
# generator (app.json) makes, 64 hexadecimal digits.
SECRET_KEY_MIN_BITS = 256
# The alphabets a generated key is drawn from, smallest first; a key is
# counted as drawn from the first that holds all its characters.
KEY_ALPHABETS = [
    string.digits,
    '0123456789abcdef',
    '0123456789ABCDEF',
    string.ascii_lowercase + string.digits,
    string.ascii_uppercase + string.digits,
    string.ascii_letters + string.digits + '-_',  # base64url: secrets.token_urlsafe
    string.ascii_letters + string.digits + '+/=',  # base64
    string.ascii_letters + string.digits + string.punctuation + ' ',  # printable ASCII
]


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def exit_on_config_error(load, *args, **kwargs):
    """Call ``load``; if a setting is wrong, say which in one line and exit with status 1.

    For the entry points of the processes: better not to start at all than
    to start half-configured.
    """
    try:
        return load(*args, **kwargs)
    except ConfigError as error:
        print(f'level=ERROR event=config_error error={quote(error)}', file=sys.stdout, flush=True)
        raise SystemExit(1) from None


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


def _redis_url(environ):
    url = environ.get('REDIS_URL') or None
    if url is not None and urlsplit(url).scheme not in ('redis', 'rediss'):
        raise ConfigError('REDIS_URL must be a redis:// or rediss:// URL')
    return url


def _transports(environ):
    raw = environ.get('SOCKETIO_TRANSPORTS') or 'polling,websocket'
    transports = [t.strip() for t in raw.split(',') if t.strip()]
    if not transports or set(transports) - {'polling', 'websocket'}:
        raise ConfigError('SOCKETIO_TRANSPORTS must list polling and/or websocket')
    return transports


def _rate_limit(environ, name, default):
    from limits import parse  # the notation Flask-Limiter reads: "10 per minute"

    value = environ.get(name) or default
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f'{name} must be a rate such as "10 per minute", got {value!r}') from None
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
    if '://' not in url:
        raise ConfigError('DATABASE_URL is not a database URL')
    scheme, rest = url.split('://', 1)
    # PaaS add-ons hand out postgres://, which SQLAlchemy no longer accepts,
    # and SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3: Flack runs
    # psycopg2, which the green-thread libraries know how to make cooperative.
    if scheme in ('postgres', 'postgresql'):
        return f'postgresql+psycopg2://{rest}'
    return url


def secret_key_bits(key):
    """An estimate of the entropy of ``key``, in bits: its length times the
    bits of one character of the smallest alphabet that holds it (4 for
    hexadecimal digits, 6 for base64, 6.6 for printable ASCII).

    That is what a key drawn at random from that alphabet holds. A key that
    keeps repeating a few characters was not: one that shows fewer different
    characters than a quarter of its length (or of its alphabet, if that is
    smaller) counts as none.
    """
    characters = set(key)
    size = next(
        (len(alphabet) for alphabet in KEY_ALPHABETS if characters <= set(alphabet)), len(KEY_ALPHABETS[-1])
    )
    if len(characters) < min(len(key), size) / 4:
        return 0
    return len(key) * math.log2(size)


def _secret_key(environ, environment, instance_path):
    key = environ.get('SECRET_KEY')
    if key:
        if environment == 'production' and secret_key_bits(key) < SECRET_KEY_MIN_BITS:
            # The key itself is never printed.
            raise ConfigError(
                'SECRET_KEY is too weak for production: it needs at least 32 bytes of entropy, '
                'such as 64 hexadecimal digits from python -c "import secrets; print(secrets.token_hex(32))"'
            )
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
    admins = environ.get('ADMIN_NICKNAMES') or ''
    return {
        'FLACK_ENV': environment,
        'TESTING': environment == 'testing',
        'SECRET_KEY': _secret_key(environ, environment, instance_path),
        'SQLALCHEMY_DATABASE_URI': database_url,
        'DATABASE_POOL_SIZE': _integer(environ, 'DATABASE_POOL_SIZE', 5, minimum=1),
        'DATABASE_MAX_OVERFLOW': _integer(environ, 'DATABASE_MAX_OVERFLOW', 0),
        'REDIS_URL': _redis_url(environ),
        'REDIS_TLS_VERIFY': _flag(environ, 'REDIS_TLS_VERIFY', False),
        'REDIS_MAX_CONNECTIONS': _integer(environ, 'REDIS_MAX_CONNECTIONS', 2, minimum=1),
        'WORKER_CONCURRENCY': _integer(environ, 'WORKER_CONCURRENCY', 1, minimum=1),
        'PORT': _integer(environ, 'PORT', 5000, minimum=1),
        'WEB_CONCURRENCY': _integer(environ, 'WEB_CONCURRENCY', 1, minimum=1),
        # Proxies in front of the web process whose X-Forwarded-For and
        # X-Forwarded-Proto are believed (flack.security): the platform's router
        # is one; none when clients reach the process directly.
        'TRUSTED_PROXY_HOPS': _integer(environ, 'TRUSTED_PROXY_HOPS', 0),
        'ASYNC_MODE': _choice(environ, 'ASYNC_MODE', 'eventlet', ASYNC_MODES),
        'SOCKETIO_TRANSPORTS': _transports(environ),
        'SOCKETIO_CORS_ORIGINS': [o.strip() for o in origins.split(',') if o.strip()],
        # Folded as nicknames are, so that any nickname reading the same counts.
        'ADMIN_NICKNAMES': frozenset(fold_nickname(n.strip()) for n in admins.split(',') if n.strip()),
        'WEBSOCKET_COMPRESSION': _choice(environ, 'WEBSOCKET_COMPRESSION', 'small', WEBSOCKET_COMPRESSIONS),
        'PRESENCE_TIMEOUT': _integer(environ, 'PRESENCE_TIMEOUT', 60, minimum=1),
        'REQUEST_STATS_WINDOW': _integer(environ, 'REQUEST_STATS_WINDOW', 15, minimum=1),
        'MAX_MESSAGE_LENGTH': _integer(environ, 'MAX_MESSAGE_LENGTH', 65536, minimum=1),
        'PASSWORD_MIN_LENGTH': _integer(environ, 'PASSWORD_MIN_LENGTH', 8, minimum=1),
        'LINK_PREVIEWS': _flag(environ, 'LINK_PREVIEWS', True),
        'LINK_PREVIEWS_ALLOW_PRIVATE': _flag(environ, 'LINK_PREVIEWS_ALLOW_PRIVATE', False),
        'LINK_PREVIEW_TIMEOUT': _number(environ, 'LINK_PREVIEW_TIMEOUT', 5.0),
        'PENDING_PREVIEWS_GRACE': _integer(environ, 'PENDING_PREVIEWS_GRACE', 60, minimum=1),
        'TOKEN_LIFETIME': _integer(environ, 'TOKEN_LIFETIME', 7 * 24 * 3600, minimum=60),
        'RATELIMIT_ENABLED': _flag(environ, 'RATELIMIT_ENABLED', True),
        'RATELIMIT_TOKENS_PER_ADDRESS': _rate_limit(environ, 'RATELIMIT_TOKENS_PER_ADDRESS', '20 per minute'),
        'RATELIMIT_TOKENS_PER_NICKNAME': _rate_limit(
            environ, 'RATELIMIT_TOKENS_PER_NICKNAME', '10 per minute'
        ),
        'RATELIMIT_REGISTRATIONS_PER_ADDRESS': _rate_limit(
            environ, 'RATELIMIT_REGISTRATIONS_PER_ADDRESS', '10 per hour'
        ),
        'RATELIMIT_POSTS_PER_USER': _rate_limit(environ, 'RATELIMIT_POSTS_PER_USER', '60 per minute'),
        'RATELIMIT_CHANNELS_PER_USER': _rate_limit(environ, 'RATELIMIT_CHANNELS_PER_USER', '10 per hour'),
        'SOCKETIO_EVENTS_PER_CONNECTION': _rate_limit(
            environ, 'SOCKETIO_EVENTS_PER_CONNECTION', '20 per second'
        ),
        'LOG_LEVEL': _log_level(environ, environment),
    }


def load_web_server_settings(environ=None):
    """What gunicorn needs to know, read before the application is imported.

    More than one worker process is only safe when they share their state
    through Redis and clients use the websocket transport alone: polling
    needs every request of a session to reach the same process.
    """
    environ = os.environ if environ is None else environ
    requested = _integer(environ, 'WEB_CONCURRENCY', 1, minimum=1)
    shareable = _redis_url(environ) is not None and _transports(environ) == ['websocket']
    return {
        'port': _integer(environ, 'PORT', 5000, minimum=1),
        'async_mode': _choice(environ, 'ASYNC_MODE', 'eventlet', ASYNC_MODES),
        'workers': requested if shareable else 1,
        'requested_workers': requested,
        'log_level': _log_level(environ, 'production').lower(),
        # Read by the workers of flack.serving: seconds a new connection has
        # to send its first request's headers, and open connections per client
        # address in a worker (0: no cap).
        'request_header_timeout': _integer(environ, 'REQUEST_HEADER_TIMEOUT', 5, minimum=1),
        'max_connections_per_address': _integer(environ, 'MAX_CONNECTIONS_PER_ADDRESS', 0),
        # The peers whose X-Forwarded-Proto gunicorn believes: none without a
        # trusted proxy; with one, every peer (the router's addresses are not
        # known in advance), and ProxyFix picks the trusted hop's entry.
        'forwarded_allow_ips': '*' if _integer(environ, 'TRUSTED_PROXY_HOPS', 0) else '',
    }


def environ_for_gunicorn(environ=None):
    """``environ`` fit for starting gunicorn: the settings it reads itself,
    dropped where they are empty, which Flack reads as unset.

    gunicorn reads ``WEB_CONCURRENCY`` with ``int()`` as it is imported,
    before gunicorn.conf.py runs, and would stop at an empty one (a ``.env``
    line or a blank config var); the Procfile's web command does the same
    in the shell.
    """
    environ = os.environ if environ is None else environ
    return {name: value for name, value in environ.items() if value or name not in GUNICORN_READS}


def masked(name, value):
    """``value`` fit to print: secrets hidden, passwords cut out of URLs."""
    if value is None:
        return ''
    if name == 'SECRET_KEY':
        return '********'
    text = ','.join(value) if isinstance(value, list) else str(value)
    parts = urlsplit(text)
    if parts.password:
        return text.replace(f':{parts.password}@', ':********@', 1)
    return text
