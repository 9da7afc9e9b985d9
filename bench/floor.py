"""The floor: the least Flack's own stack can do for the same workload.

A minimal Flask-SocketIO app, served by the Procfile's gunicorn command
with this module in place of flack.wsgi: one route that answers a fixed
list of 200 messages shaped like Flack's, and one Socket.IO event that
broadcasts the message it is sent. Flack is measured against it.

With ``FLOOR_MESSAGE_QUEUE`` set to a Redis URL, its broadcasts go through
Redis (Flask-SocketIO's ``message_queue``), as Flack's do when scaled out:
the floor of the scaled formation. Unset, it is the embedded one's.

``ASYNC_MODE`` (eventlet by default) names the green-thread library, as for
Flack: gunicorn.conf.py picks the worker class from it, and Socket.IO is told
the same here. Left to guess, Socket.IO would take eventlet whenever it can
be imported, in a process gevent patched.
"""

import os

from flask import Flask, jsonify
from flask_socketio import SocketIO

MESSAGE_COUNT = 200


def _message(number):
    user_id = number % 10 + 1
    return {
        'id': number,
        'source': f'Message number {number}, with *some* `Markdown` in it.',
        'html': f'Message number {number}, with <em>some</em> <code>Markdown</code> in it.',
        'user_id': user_id,
        'created_at': 1_800_000_000 + number,
        'updated_at': 1_800_000_000 + number,
        '_links': {'self': f'/api/messages/{number}', 'user': f'/api/users/{user_id}'},
    }


MESSAGES = [_message(number) for number in range(1, MESSAGE_COUNT + 1)]

app = Flask(__name__)
socketio = SocketIO(
    app,
    async_mode=os.environ.get('ASYNC_MODE') or 'eventlet',
    message_queue=os.environ.get('FLOOR_MESSAGE_QUEUE') or None,
)


@app.get('/api/messages')
def messages():
    return jsonify({'messages': MESSAGES})


@socketio.on('post_message')
def post_message(data):
    socketio.emit('updated_model', {'class': 'Message', 'model': data})
    return {'status': 'ok'}
