"""The page, and the operational routes: /stats and /healthz."""

from pathlib import Path

from apiflask import APIBlueprint
from flask import current_app, render_template, send_from_directory
from redis import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .schemas import Health, Stats
from .stats import requests_per_second

bp = APIBlueprint('main', __name__, tag='Operations')


# The Socket.IO client, as `npm ci` installed it from package-lock.json.
SOCKETIO_CLIENT = Path(__file__).resolve().parent.parent / 'node_modules' / 'socket.io-client' / 'dist'


@bp.get('/')
@bp.doc(hide=True)
def index():
    """The browser client (its Content-Security-Policy comes from flack.security)."""
    return render_template('index.html')


@bp.get('/vendor/<any("socket.io.min.js", "socket.io.min.js.map"):filename>')
@bp.doc(hide=True)
def vendor(filename):
    """The Socket.IO client library from node_modules (run `npm ci` first)."""
    return send_from_directory(SOCKETIO_CLIENT, filename, max_age=3600)


@bp.get('/stats')
@bp.output(Stats)
def stats():
    """Requests per second over the last REQUEST_STATS_WINDOW seconds."""
    return {'requests_per_second': requests_per_second()}


@bp.get('/healthz')
@bp.output(Health)
@bp.doc(
    responses={
        503: {
            'description': 'The database or Redis does not answer',
            # Not an error body: the same report as a 200, naming what is down.
            'content': {'application/json': {'schema': Health}},
        }
    }
)
def healthz():
    """Whether this process can reach its backing services."""
    services = {'database': _database_answers()}
    if 'flack.redis' in current_app.extensions:
        services['redis'] = _redis_answers()
    healthy = all(services.values())
    body = {'status': 'ok' if healthy else 'unavailable'}
    body.update({name: 'ok' if up else 'unavailable' for name, up in services.items()})
    return body, 200 if healthy else 503


def _database_answers():
    try:
        db.session.execute(text('SELECT 1'))
        return True
    except SQLAlchemyError:
        db.session.rollback()
        return False


def _redis_answers():
    try:
        return current_app.extensions['flack.redis'].ping()
    except RedisError:
        return False
