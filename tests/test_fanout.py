"""Fan-out: both client managers held to one contract, on a live server."""

import queue
from dataclasses import dataclass

import pytest
import socketio

from flack import create_app, realtime
from flack.extensions import db

from .conftest import make_environ
from .live import wait_for


@dataclass
class Fanout:
    settings: dict
    emitting_process: str  # 'web': the serving app emits; 'worker': another app does


@pytest.fixture(params=['in_process', 'redis'])
def fanout(request):
    """Each fan-out: the embedded mode's, heard from the same app; the scaled
    mode's, heard from a worker's app, which shares nothing with the web's but Redis."""
    if request.param == 'in_process':
        return Fanout({}, 'web')
    return Fanout({'REDIS_URL': request.getfixturevalue('redis_server').url}, 'worker')


def test_a_connected_client_hears_an_event_emitted_through_the_fanout(tmp_path, fanout, serve_app):
    environ = make_environ(tmp_path, **fanout.settings)
    web = create_app(environ)
    with web.app_context():
        db.create_all()
    emitter = (
        web if fanout.emitting_process == 'web' else create_app(environ, process=fanout.emitting_process)
    )
    heard = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on('fanout_check', heard.put)
    client.connect(serve_app(web), transports=['polling'], wait_timeout=10)

    def emitted_and_heard():
        # Emitted until heard: a Redis subscription starts listening a little
        # after the first connection, and Redis keeps nothing for a channel before.
        realtime.socketio(emitter).emit('fanout_check', {'from': fanout.emitting_process})
        try:
            return heard.get(timeout=0.2)
        except queue.Empty:
            return None

    try:
        assert wait_for(emitted_and_heard, 'the event') == {'from': fanout.emitting_process}
    finally:
        client.disconnect()
