"""The page, and the operational routes: /stats and /healthz."""

from apiflask import APIBlueprint
from flask import current_app, render_template
from redis import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .schemas import Health, Stats
from .stats import requests_per_second

bp = APIBlueprint('main', __name__, tag='Operations')


@bp.get('/')
@bp.doc(hide=True)
def index():
    return render_template('index.html')


@bp.get('/stats')
@bp.output(Stats)
def stats():
    """Requests per second over the last REQUEST_STATS_WINDOW seconds."""
    return {'requests_per_second': requests_per_second()}


@bp.get('/healthz')
@bp.output(Health)
@bp.doc(responses={503: 'The database or Redis does not answer'})
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
