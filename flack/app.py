"""The application factory: settings, extensions, adapters, blueprints."""

import logging
import sys
from pathlib import Path

from apiflask import APIFlask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from . import broadcast, events, green  # noqa: F401  (their handlers register on import)
from .api import bp as api_bp
from .api import errors
from .background import InProcessWork
from .config import load_settings
from .extensions import db, migrate, socketio
from .main import bp as main_bp
from .presence import MemoryPresenceStore
from .stats import MemoryRequestCounter, record_request

VERSION = '1.0.0'
MIGRATIONS = Path(__file__).resolve().parent.parent / 'migrations'


class IdConverter(IntegerConverter):
    """``<int:id>`` limited to what the database can hold: longer is a 404.

    The limit is in the pattern, not a ``max``: a value refused after
    matching makes Werkzeug answer other methods with 405 instead of 404.
    """

    regex = r'\d{1,18}'


def build_app(environ=None):
    """Build the application from ``environ`` (default: the process environment)."""
    app = APIFlask(__name__, title='Flack', version=VERSION, spec_path='/api/openapi.json', docs_path=None)
    app.config.update(load_settings(app.instance_path, environ))
    app.config.update(
        # The contract answers bad input with 400, as the original did.
        VALIDATION_ERROR_STATUS_CODE=400,
        # A body big enough for the longest message in any JSON escaping;
        # anything larger is refused before it is read.
        MAX_CONTENT_LENGTH=6 * app.config['MAX_MESSAGE_LENGTH'] + 4096,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(app.config),
    )
    _configure_logging(app.config['LOG_LEVEL'])
    app.url_map.converters['int'] = IdConverter

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    socketio.init_app(
        app,
        async_mode=green.active_mode(),
        cors_allowed_origins=app.config['SOCKETIO_CORS_ORIGINS'] or None,
        transports=app.config['SOCKETIO_TRANSPORTS'],
        max_http_buffer_size=app.config['MAX_CONTENT_LENGTH'],
        manage_session=False,
    )
    _choose_adapters(app)

    errors.init_app(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(main_bp)
    app.before_request(record_request)
    return app


def _choose_adapters(app):
    """The parts that differ between the embedded and the scaled mode."""
    app.extensions['flack.presence'] = MemoryPresenceStore()
    app.extensions['flack.stats'] = MemoryRequestCounter(app.config['REQUEST_STATS_WINDOW'])
    app.extensions['flack.background'] = InProcessWork(app)


def _engine_options(config):
    if config['SQLALCHEMY_DATABASE_URI'].startswith('sqlite'):
        # Several green threads share the file; wait for a lock instead of failing.
        return {'connect_args': {'timeout': 15}}
    return {'pool_size': config['DATABASE_POOL_SIZE'], 'pool_pre_ping': True}


@event.listens_for(Engine, 'connect')
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith('sqlite3'):
        cursor = dbapi_connection.cursor()
        # WAL lets readers go on while a message is written.
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA foreign_keys=ON')
        cursor.close()


def _configure_logging(level):
    # Libraries log at INFO at most: their DEBUG lines (markdown-it's parser
    # trace, say) would drown Flack's own.
    logging.basicConfig(
        stream=sys.stdout,
        level=max(logging.getLevelName(level), logging.INFO),
        format='%(asctime)s level=%(levelname)s logger=%(name)s %(message)s',
    )
    logging.getLogger('flack').setLevel(level)
