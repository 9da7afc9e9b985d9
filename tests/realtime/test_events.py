"""Socket.IO handlers, through Flask-SocketIO's test client."""

from flack import presence

from ..conftest import database_fails_at
from .test_broadcast import heard_models


def test_post_message_event_stores_and_broadcasts_the_message(client, socket_client, susan):
    poster, listener = socket_client(), socket_client()

    ack = poster.emit('post_message', {'source': 'hello *world*!'}, susan.token, callback=True)

    assert ack['html'] == 'hello <em>world</em>!'
    assert ack['user_id'] == susan.id
    assert client.get(f'/api/messages/{ack["id"]}').json == ack
    assert heard_models(listener, 'Message') == [ack]


def test_post_message_with_a_bad_token_is_refused_and_stores_nothing(client, socket_client):
    ack = socket_client().emit('post_message', {'source': 'hi'}, 'bad-token', callback=True)

    assert ack['error'] == 'authentication required'
    assert client.get('/api/messages').json['messages'] == []


def test_post_message_with_bad_data_is_a_400_ack(client, socket_client, susan):
    socket = socket_client()

    for data in ({}, {'source': ''}, {'source': 5}, ['x'], None):
        ack = socket.emit('post_message', data, susan.token, callback=True)
        assert ack['error'] == 'bad request', data
    assert client.get('/api/messages').json['messages'] == []


def test_post_message_over_the_maximum_length_is_a_413_ack(app_factory):
    app = app_factory(MAX_MESSAGE_LENGTH=5)
    from flack.realtime import socketio

    from ..conftest import Accounts

    susan = Accounts(app.test_client()).new('susan')
    socket = socketio(app).test_client(app)

    ack = socket.emit('post_message', {'source': 'too long'}, susan.token, callback=True)

    assert ack['error'] == 'too large'
    socket.disconnect()


def test_a_connection_with_a_token_posts_without_repeating_it(socket_client, susan):
    socket = socket_client(auth={'token': susan.token})

    ack = socket.emit('post_message', {'source': 'hi'}, callback=True)

    assert ack['user_id'] == susan.id


def test_connecting_with_an_invalid_token_is_refused(socket_client):
    socket = socket_client(auth={'token': 'not-a-token'})

    assert not socket.is_connected()


def test_a_connection_whose_channels_cannot_be_read_is_refused_not_let_in_deaf(app, socket_client, susan):
    # In a reconnect storm the database can fail after the token is checked,
    # as the connection's rooms are read: let in, it would hear none of its
    # channels.
    with database_fails_at(app, 'FROM memberships'):
        refused = socket_client(auth={'token': susan.token})
    assert not refused.is_connected()
    assert presence.store(app).connections_of(susan.id) == set()  # not left linked

    # Once the database answers, the next connection hears its channels.
    poster, listener = socket_client(), socket_client(auth={'token': susan.token})
    assert listener.is_connected()
    poster.emit('post_message', {'source': 'back'}, susan.token, callback=True)
    assert [model['source'] for model in heard_models(listener, 'Message')] == ['back']


def test_connecting_without_a_token_is_anonymous_and_allowed(socket_client):
    socket = socket_client()

    assert socket.is_connected()
    assert socket.emit('post_message', {'source': 'hi'}, callback=True)['error'] == 'authentication required'


def test_ping_user_brings_the_user_online_and_everyone_hears_it(app, client, socket_client, susan):
    presence.store(app).claim_offline(susan.id)
    _take_offline_in_database(app, susan.id)
    listener = socket_client()

    ack = socket_client().emit('ping_user', susan.token, callback=True)

    assert ack == {'status': 'ok'}
    assert client.get(f'/api/users/{susan.id}').json['online'] is True
    assert [user['online'] for user in heard_models(listener, 'User')] == [True]


def test_ping_user_with_a_bad_token_changes_nothing(client, socket_client, susan):
    ack = socket_client().emit('ping_user', 'bad-token', callback=True)

    assert ack['error'] == 'authentication required'


def test_closing_the_last_connection_takes_the_user_offline_once(client, socket_client, susan):
    first, second = socket_client(), socket_client()
    first.emit('ping_user', susan.token)
    second.emit('ping_user', susan.token)
    listener = socket_client()

    first.disconnect()
    assert client.get(f'/api/users/{susan.id}').json['online'] is True

    second.disconnect()
    assert client.get(f'/api/users/{susan.id}').json['online'] is False
    assert [user['online'] for user in heard_models(listener, 'User')] == [False]


def test_unknown_events_and_odd_arguments_get_no_server_error(socket_client, susan):
    socket = socket_client()

    socket.emit('no_such_event', 1, 2, 3)
    assert socket.emit('ping_user', {'token': ['x']}, callback=True)['error'] == 'authentication required'
    assert socket.emit('ping_user', callback=True)['error'] == 'authentication required'
    assert (
        socket.emit('post_message', 'just text', susan.token, 'extra', callback=True)['user_id'] == susan.id
    )
    assert socket.is_connected()


def _take_offline_in_database(app, user_id):
    from flack.extensions import db
    from flack.models import User

    with app.app_context():
        db.session.execute(db.update(User).where(User.id == user_id).values(online=False))
        db.session.commit()


ODD_VALUES = [
    None,
    True,
    0,
    -1,
    1.5,
    '',
    'x',
    'x' * 100_000,
    [],
    [None],
    {},
    {'source': None},
    {'source': ['a']},
    {'source': {'$gt': ''}},
    {'token': {}},
    [[[[[[]]]]]],
    {'source': 'ok', 'extra': [1, 2]},
]


def test_no_event_payload_or_arity_makes_a_server_error(client, socket_client, susan):
    socket = socket_client()

    for event in ('ping_user', 'post_message', 'no_such_event', 'connect', 'disconnect_me'):
        for value in ODD_VALUES:
            for arguments in (
                (),
                (value,),
                (value, value),
                (value, susan.token),
                (value, value, value, value),
            ):
                ack = socket.emit(event, *arguments, callback=True)
                assert ack in (None, []) or isinstance(ack, dict), (event, arguments)
                assert not (isinstance(ack, dict) and ack.get('error') == 'internal server error'), (
                    event,
                    arguments,
                )
    assert socket.is_connected()
    normal = socket_client(auth={'token': susan.token})
    assert (
        normal.emit('post_message', {'source': 'still *fine*'}, callback=True)['html']
        == 'still <em>fine</em>'
    )


def test_a_connection_sending_events_too_fast_is_answered_with_429(app_factory):
    app = app_factory(RATELIMIT_ENABLED=1, SOCKETIO_EVENTS_PER_CONNECTION='5 per minute')
    from flack.realtime import socketio

    from ..conftest import Accounts

    susan = Accounts(app.test_client()).new('susan')
    eager, patient = socketio(app).test_client(app), socketio(app).test_client(app)

    answers = [eager.emit('ping_user', susan.token, callback=True) for _ in range(7)]

    assert answers[:5] == [{'status': 'ok'}] * 5
    assert [a['error'] for a in answers[5:]] == ['too many requests'] * 2
    assert patient.emit('ping_user', susan.token, callback=True) == {'status': 'ok'}
    eager.disconnect()
    patient.disconnect()
