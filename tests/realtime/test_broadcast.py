"""Every committed change to a user or a message is heard by every client as
``updated_model``, once; a change that was refused or changed nothing, never."""

from ..conftest import basic_auth


def heard_models(socket, class_name):
    """The ``updated_model`` payloads of one class received so far."""
    return [
        event['args'][0]['model']
        for event in socket.get_received()
        if event['name'] == 'updated_model' and event['args'][0]['class'] == class_name
    ]


def test_every_client_hears_of_a_new_message_posted_over_rest(client, socket_client, susan):
    listeners = [socket_client(), socket_client()]

    message = client.post('/api/messages', json={'source': 'hi *all*'}, headers=susan.headers).json

    for listener in listeners:
        assert heard_models(listener, 'Message') == [message]


def test_a_new_user_is_broadcast(client, socket_client):
    listener = socket_client()

    user = client.post('/api/users', json={'nickname': 'susan', 'password': 'correct horse'}).json

    assert heard_models(listener, 'User') == [user]


def test_signing_in_is_not_broadcast_as_a_change_but_coming_online_is(client, socket_client, accounts):
    accounts.register('susan')
    listener = socket_client()

    client.post('/api/tokens', headers=basic_auth('susan', 'correct horse'))
    client.post('/api/tokens', headers=basic_auth('susan', 'correct horse'))

    assert [user['online'] for user in heard_models(listener, 'User')] == [True]


def test_an_edit_is_broadcast(client, socket_client, susan):
    message = client.post('/api/messages', json={'source': 'hi'}, headers=susan.headers).json
    listener = socket_client()

    client.put(f'/api/messages/{message["id"]}', json={'source': 'hello'}, headers=susan.headers)

    assert [m['source'] for m in heard_models(listener, 'Message')] == ['hello']


def test_a_failed_request_broadcasts_nothing(client, socket_client, susan, david):
    message = client.post('/api/messages', json={'source': 'hi'}, headers=susan.headers).json
    listener = socket_client()

    client.put(f'/api/messages/{message["id"]}', json={'source': 'x'}, headers=david.headers)
    client.post('/api/users', json={'nickname': 'susan', 'password': 'correct horse'})

    assert listener.get_received() == []
