"""The page, and the operational routes: /stats and /healthz."""

from apiflask import APIBlueprint
from flask import render_template
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
@bp.doc(responses={503: 'The database does not answer'})
def healthz():
    """Whether this process can reach its backing services."""
    try:
        db.session.execute(text('SELECT 1'))
    except SQLAlchemyError:
        db.session.rollback()
        return {'status': 'unavailable', 'database': 'unavailable'}, 503
    return {'status': 'ok', 'database': 'ok'}
