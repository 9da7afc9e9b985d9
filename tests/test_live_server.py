"""The Procfile's release and web commands, given only SECRET_KEY, PORT and
DATABASE_URL, serve the whole contract; real Socket.IO clients talk to them."""

import pytest
import requests
import socketio

from .live import Listener, LiveFlack, wait_for

CHALLENGE = 'Bearer realm="Authentication Required"'


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    with LiveFlack(tmp_path_factory.mktemp('live')) as live:
        yield live


class Api:
    """A small HTTP client for the live server."""

    def __init__(self, server):
        self.base = server.url
        self.http = requests.Session()

    def call(self, method, path, token=None, **kwargs):
        headers = kwargs.pop('headers', {})
        if token:
            headers['Authorization'] = f'Bearer {token}'
        return self.http.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def new_user(self, nickname, password='correct horse'):
        created = self.call('POST', '/api/users', json={'nickname': nickname, 'password': password})
        assert created.status_code == 201, created.text
        token = self.call('POST', '/api/tokens', auth=(nickname, password)).json()['token']
        return created.json(), token


@pytest.fixture(scope='module')
def api(server):
    api = Api(server)
    yield api
    api.http.close()


@pytest.fixture
def listener(server):
    made = []

    def make(**kwargs):
        made.append(Listener(server, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_the_users_contract_over_http(api):
    user, token = api.new_user('lsusan')

    listed = api.call('GET', '/api/users').json()['users']
    assert user['id'] in [u['id'] for u in listed]
    assert api.call('GET', '/api/users?online=1').status_code == 200
    assert api.call('GET', '/api/users?updated_since=0').status_code == 200
    assert api.call('GET', '/api/users?updated_since=x').status_code == 400
    assert api.call('GET', f'/api/users/{user["id"]}').json()['nickname'] == 'lsusan'
    assert api.call('GET', '/api/users/999999').status_code == 404
    assert (
        api.call('POST', '/api/users', json={'nickname': 'lsusan', 'password': 'correct horse'}).status_code
        == 400
    )
    assert (
        api.call('POST', '/api/users', json={'nickname': '', 'password': 'correct horse'}).status_code == 400
    )
    assert api.call('PUT', f'/api/users/{user["id"]}', token, json={'nickname': 'lsuzy'}).status_code == 204
    other, other_token = api.new_user('lother')
    assert api.call('PUT', f'/api/users/{user["id"]}', other_token, json={'nickname': 'x'}).status_code == 403
    assert (
        api.call('PUT', f'/api/users/{other["id"]}', other_token, json={'nickname': 'lsuzy'}).status_code
        == 400
    )
    assert api.call('PUT', '/api/users/999999', token, json={'nickname': 'y'}).status_code == 404


def test_the_tokens_contract_over_http(api):
    _, token = api.new_user('ltokens')

    assert api.call('POST', '/api/tokens', auth=('ltokens', 'correct horse')).json()['token'] == token
    refused = api.call('POST', '/api/tokens', auth=('ltokens', 'wrong password'))
    assert refused.status_code == 401
    assert refused.headers['WWW-Authenticate'] == CHALLENGE
    assert api.call('DELETE', '/api/tokens', token).status_code == 204
    assert api.call('GET', '/api/users', token).status_code == 401
    assert api.call('DELETE', '/api/tokens').status_code == 401


def test_the_messages_contract_over_http(api):
    author, token = api.new_user('lauthor')
    _, other_token = api.new_user('lreader')

    posted = api.call('POST', '/api/messages', token, json={'source': 'hello *world*!'})
    assert posted.status_code == 201
    message = posted.json()
    assert message['html'] == 'hello <em>world</em>!'
    assert posted.headers['Location'] == f'/api/messages/{message["id"]}'
    assert api.call('POST', '/api/messages', token, json={}).status_code == 400
    assert api.call('POST', '/api/messages', token, json={'source': 'x' * 70000}).status_code == 413
    assert api.call('POST', '/api/messages', json={'source': 'x'}).status_code == 401
    assert message['id'] in [m['id'] for m in api.call('GET', '/api/messages').json()['messages']]
    assert api.call('GET', '/api/messages?updated_since=0').status_code == 200
    assert api.call('GET', '/api/messages?updated_since=abc').status_code == 400
    by_author = api.call('GET', f'/api/messages?user_id={author["id"]}').json()['messages']
    assert [m['id'] for m in by_author] == [message['id']]
    assert api.call('GET', f'/api/messages?limit=1&before={message["id"] + 1}').json()['messages'] == [
        message
    ]
    assert api.call('GET', '/api/messages?limit=-1').status_code == 400
    assert api.call('GET', f'/api/messages/{message["id"]}').json() == message
    assert api.call('GET', '/api/messages/999999').status_code == 404
    assert (
        api.call('PUT', f'/api/messages/{message["id"]}', token, json={'source': 'edited'}).status_code == 204
    )
    assert (
        api.call('PUT', f'/api/messages/{message["id"]}', other_token, json={'source': 'x'}).status_code
        == 403
    )
    assert api.call('PUT', '/api/messages/999999', token, json={'source': 'x'}).status_code == 404


def test_the_operational_routes_over_http(api):
    assert api.call('GET', '/').status_code == 200
    assert api.call('GET', '/healthz').json()['status'] == 'ok'
    assert api.call('GET', '/stats').json()['requests_per_second'] > 0
    assert api.call('GET', '/api/openapi.json').json()['info']['title'] == 'Flack'


def test_two_clients_each_hear_the_message_the_other_posts(server, api, listener):
    _, susan_token = api.new_user('lpost1')
    _, david_token = api.new_user('lpost2')
    susan = listener(transports=['websocket'])
    david = listener()  # polling first, then upgraded

    from_susan = api.call('POST', '/api/messages', susan_token, json={'source': 'hi david'}).json()
    from_david = david.client.call('post_message', ({'source': 'hi susan'}, david_token), timeout=10)

    for client in (susan, david):
        wait_for(lambda c=client: from_susan in c.messages() and from_david in c.messages(), 'both messages')
    assert from_david['html'] == 'hi susan'


def test_ping_user_makes_a_user_online_and_the_last_disconnect_offline(server, api, listener):
    user, token = api.new_user('lpresence')
    watcher = listener()
    first, second = listener(), listener(transports=['websocket'])

    def online():
        return api.call('GET', f'/api/users/{user["id"]}').json()['online']

    def changes():
        return [u['online'] for u in watcher.users() if u['id'] == user['id']]

    first.client.call('ping_user', token, timeout=10)
    second.client.call('ping_user', token, timeout=10)
    first.close()
    assert online() is True

    second.close()
    wait_for(lambda: changes() == [False], 'one offline event')
    assert online() is False

    third = listener()
    assert third.client.call('ping_user', token, timeout=10) == {'status': 'ok'}
    wait_for(lambda: changes() == [False, True], 'one online event')
    assert online() is True


def test_socketio_refuses_connections_from_another_origin(server):
    stranger = socketio.Client(reconnection=False)

    with pytest.raises(socketio.exceptions.ConnectionError):
        # Polling: the HTTP client sends exactly the Origin given here.
        stranger.connect(
            server.url, headers={'Origin': 'http://evil.example'}, transports=['polling'], wait_timeout=5
        )
    neighbour = socketio.Client(reconnection=False)
    neighbour.connect(server.url, headers={'Origin': server.url}, transports=['polling'], wait_timeout=5)
    assert neighbour.connected
    neighbour.disconnect()
