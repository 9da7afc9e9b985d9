"""The application factory: settings, extensions, adapters, blueprints."""

from pathlib import Path

from apiflask import APIFlask, abort
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from . import (
    change_counters,
    fanout,
    green,
    health,
    json_input,
    presence,
    rate_limits,
    realtime,
    redis_client,
    security,
    stats,
    work,
)
from .api import bp as api_bp
from .api import errors, json_bodies
from .config import INSTANCE_PATH, load_settings
from .extensions import db
from .health import DatabaseProbe, RedisProbe
from .logs import configure_logging
from .main import bp as main_bp
from .presence import MemoryPresenceStore, RedisPresenceStore
from .realtime import socket_guard
from .stats import MemoryRequestCounter, RedisRequestCounter
from .work.in_process import InProcessWork

VERSION = '1.0.0'
MIGRATIONS = Path(__file__).resolve().parent.parent / 'migrations'


class IdConverter(IntegerConverter):
    """``<int:id>`` limited to what the database can hold: longer is a 404.

    The limit is in the pattern, not a ``max``: a value refused after
    matching makes Werkzeug answer other methods with 405 instead of 404.
    """

    regex = r'\d{1,18}'


def build_app(environ=None, process='web'):
    """Build the application from ``environ`` (default: the process environment).

    ``process`` is ``'web'`` for the process that serves clients, ``'worker'``
    for the Celery worker and clock, which only emit Socket.IO events, and
    ``'cli'`` for manage.py, which also has the migration commands.
    """
    app = APIFlask(
        __name__,
        title='Flack',
        version=VERSION,
        spec_path='/api/openapi.json',
        docs_path=None,
        instance_path=str(INSTANCE_PATH),
    )
    app.config.update(load_settings(app.instance_path, environ))
    app.config.update(
        # Bad input is a 400, as in the original API (docs/api.md).
        VALIDATION_ERROR_STATUS_CODE=400,
        # A body big enough for the longest message in any JSON escaping;
        # anything larger is refused before it is read.
        MAX_CONTENT_LENGTH=6 * app.config['MAX_MESSAGE_LENGTH'] + 4096,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(app.config, process),
    )
    configure_logging(app.config['LOG_LEVEL'])
    app.url_map.converters['int'] = IdConverter

    mode = green.active_mode()
    if app.config['SQLALCHEMY_DATABASE_URI'].startswith('postgresql'):
        green.make_postgresql_cooperative(mode)
    db.init_app(app)
    # Caches kept exact by counters the database keeps, in either mode.
    change_counters.init_app(app, db.session)
    if process == 'cli':
        # Alembic only where migrations run: it costs every web process memory.
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(MIGRATIONS))
    # The one place the mode is decided: each concern gets its adapter.
    serves_clients = process in ('web', 'cli')
    if app.config['REDIS_URL']:
        # One bounded pool per process, shared by everything Flack itself
        # asks of Redis (Celery has its own connections, see flack.work).
        redis_client.init_app(app, process)
        client_manager = _choose_scaled_adapters(app, serves_clients)
    else:
        client_manager = _choose_embedded_adapters(app, serves_clients)
    # Socket.IO, its handlers, and the broadcast of every commit (flack.realtime).
    _init_socketio(app, mode, client_manager, serves_clients)

    errors.init_app(app)
    json_bodies.init_app(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(main_bp)
    rate_limits.init_app(app)
    security.init_app(app)
    return app


def _init_socketio(app, mode, client_manager, serves_clients):
    options = {
        'async_mode': mode,
        'cors_allowed_origins': app.config['SOCKETIO_CORS_ORIGINS'] or None,
        'transports': app.config['SOCKETIO_TRANSPORTS'],
        'max_http_buffer_size': app.config['MAX_CONTENT_LENGTH'],
        'manage_session': False,
        # Decoding fails on input no client sends, before any handler runs;
        # payloads are decoded with the same bounds as request bodies.
        'serializer': socket_guard.GuardedPacket,
        'json': json_input,
        # Who hears an event: this process's clients, or every web process's.
        'client_manager': client_manager,
    }
    realtime.init_app(app, db.session, options, serves_clients)
    if serves_clients:
        # Flask-SocketIO runs each event in a request context built from the
        # connection's environ, whose path is the Socket.IO endpoint. With no
        # rule for that path, every context would record a NotFound whose
        # traceback holds the frames that hold the context: a reference cycle
        # per event (the whole green thread's stack), freed only by the
        # cyclic collector, which gunicorn.conf.py runs rarely; under a
        # flood they piled up by the hundred thousand. A rule that matches
        # (never dispatched: Engine.IO answers that path before Flask) lets
        # each context go when it is popped. Two rules: Werkzeug matches
        # a websocket request only to a websocket rule.
        view = app.doc(hide=True)(_never_dispatched)  # not in the OpenAPI document
        app.add_url_rule('/socket.io/', 'socketio', view, methods=['GET', 'POST'])
        app.add_url_rule('/socket.io/', 'socketio_websocket', view, websocket=True)


def _never_dispatched():
    """The Socket.IO endpoint's rule (see ``_init_socketio``); Engine.IO serves the path."""
    abort(404)


def _choose_embedded_adapters(app, serves_clients):
    """One process: presence, statistics, rate limits, background work and
    fan-out in memory; the database is the one service to probe. Returns the
    fan-out, for the Socket.IO server."""
    presence.init_app(app, MemoryPresenceStore())
    stats.init_app(app, MemoryRequestCounter(app.config['REQUEST_STATS_WINDOW']))
    app.config.update(rate_limits.memory_storage())
    health.init_app(app, [DatabaseProbe()])
    work.init_app(app, InProcessWork(app))
    return fanout.in_process_fanout(app, serves_clients)


def _choose_scaled_adapters(app, serves_clients):
    """Many processes: presence, statistics, rate limits and fan-out in Redis
    (probed with the database), background work on Celery. Returns the
    fan-out, for the Socket.IO server."""
    redis = redis_client.connection(app)
    presence.init_app(app, RedisPresenceStore(redis))
    stats.init_app(app, RedisRequestCounter(redis, app.config['REQUEST_STATS_WINDOW']))
    app.config.update(rate_limits.redis_storage(redis))
    health.init_app(app, [DatabaseProbe(), RedisProbe(redis)])
    # Imported here: Celery costs the embedded default memory it never uses.
    from .work.celery_work import CeleryWork, celery_init_app

    celery_init_app(app)
    work.init_app(app, CeleryWork(app))
    return fanout.redis_fanout(app, serves_clients)


# Seconds a request waits for a connection when every one of the pool is busy.
DATABASE_POOL_TIMEOUT = 5
# PostgreSQL ends a transaction left idle this long (its session with it):
# with updated_at stamped by the writing statement (flack.models), no change
# becomes readable later than this (plus its commit) after its stamp, so a
# client that reads again from this far before the last change it saw
# misses none (the browser client reads from 30 s before).
STAMP_VISIBLE_WITHIN = 10


def _engine_options(config, process):
    if config['SQLALCHEMY_DATABASE_URI'].startswith('sqlite'):
        # Several green threads share the file; wait for a lock instead of failing.
        return {'connect_args': {'timeout': 15}}
    web = process in ('web', 'cli')
    return {
        # The database plan counts every connection: a web process keeps
        # DATABASE_POOL_SIZE (+ overflow at a peak, green threads wait
        # beyond); a Celery pool child runs one task at a time and keeps one.
        'pool_size': config['DATABASE_POOL_SIZE'] if web else 1,
        'max_overflow': config['DATABASE_MAX_OVERFLOW'] if web else 0,
        # A green thread waits this long for a busy pool's connection, then
        # its request is a 503 (flack.api.errors), as with the Redis pool.
        'pool_timeout': DATABASE_POOL_TIMEOUT,
        # A connection the database closed (a restart, an idle timeout) is
        # replaced before use instead of failing the request.
        'pool_pre_ping': True,
        # No JIT: it compiles a query whose estimated cost is high (the unread
        # counts of many channels), about 0.2 s each time, for statements
        # that run in milliseconds.
        'connect_args': {
            'options': f'-c idle_in_transaction_session_timeout={STAMP_VISIBLE_WITHIN}s -c jit=off',
        },
    }


@event.listens_for(Engine, 'connect')
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith('sqlite3'):
        cursor = dbapi_connection.cursor()
        # WAL lets readers go on while a message is written.
        cursor.execute('PRAGMA journal_mode=WAL')
        # With WAL, NORMAL loses no committed message when the process
        # crashes (only on power loss) and saves a disk sync per commit.
        cursor.execute('PRAGMA synchronous=NORMAL')
        cursor.execute('PRAGMA foreign_keys=ON')
        cursor.close()
