"""Posting, editing and reading messages, as the REST routes and the
Socket.IO handler both do: a commit is heard by every client at once, and
the next listing shows it, even within the same second (listings are cached)."""

from flack.chat import edit_message, post_message
from flack.extensions import db
from flack.models import Message, User

from .conftest import Accounts
from .realtime.test_broadcast import heard_models


def _listed(client):
    return [message['source'] for message in client.get('/api/messages').json['messages']]


def test_a_posted_message_is_heard_once_and_listed_at_once(app, client, socket_client, susan):
    listener = socket_client()
    assert _listed(client) == []  # a listing now cached

    with app.app_context():
        message = post_message(db.session.get(User, susan.id), 'hello *all*')
        posted_id = message.id

    assert [(m['id'], m['html']) for m in heard_models(listener, 'Message')] == [
        (posted_id, 'hello <em>all</em>')
    ]
    assert _listed(client) == ['hello *all*']


def test_an_edit_is_listed_at_once(app, client, susan):
    posted = client.post('/api/messages', json={'source': 'first'}, headers=susan.headers).json
    assert _listed(client) == ['first']

    with app.app_context():
        edit_message(db.session.get(Message, posted['id']), 'second')

    assert _listed(client) == ['second']
    assert client.get(f'/api/messages/{posted["id"]}').json['html'] == 'second'


def test_an_edit_over_the_longest_text_changes_nothing(app_factory):
    app = app_factory(MAX_MESSAGE_LENGTH=10)
    client = app.test_client()
    susan = Accounts(client).new('susan')
    posted = client.post('/api/messages', json={'source': 'short'}, headers=susan.headers).json

    edited = client.put(f'/api/messages/{posted["id"]}', json={'source': 'x' * 11}, headers=susan.headers)

    assert edited.status_code == 413
    assert client.get(f'/api/messages/{posted["id"]}').json == posted
