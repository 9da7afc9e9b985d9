"""The page, and the operational routes: /stats and /healthz."""

from pathlib import Path

from apiflask import APIBlueprint
from flask import render_template, send_from_directory

from . import health
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
    services = {probe.name: probe.answers() for probe in health.probes()}
    healthy = all(services.values())
    body = {'status': 'ok' if healthy else 'unavailable'}
    body.update({name: 'ok' if up else 'unavailable' for name, up in services.items()})
    return body, 200 if healthy else 503
