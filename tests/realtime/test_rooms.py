"""Which connections hear a channel's messages: its members', from the
moment they are linked to their user or join, until they leave; anonymous
connections hear general's only. And posting in a channel over Socket.IO."""

from .test_broadcast import heard_models


def _new_channel(client, user, name='random'):
    return client.post('/api/channels', json={'name': name}, headers=user.headers).json


def _post(client, user, channel, source):
    url = f'/api/channels/{channel["id"]}/messages'
    return client.post(url, json={'source': source}, headers=user.headers).json


def _heard(socket):
    return [model['source'] for model in heard_models(socket, 'Message')]


def test_a_channels_messages_reach_its_members_connections_only(client, socket_client, susan, david):
    channel = _new_channel(client, susan)
    susans, davids, anonymous = socket_client(auth={'token': susan.token}), socket_client(), socket_client()
    davids.emit('ping_user', david.token, callback=True)  # linked to david, who is no member

    _post(client, susan, channel, 'in random')
    client.post('/api/messages', json={'source': 'in general'}, headers=david.headers)

    assert _heard(susans) == ['in random', 'in general']
    assert _heard(davids) == ['in general']
    assert _heard(anonymous) == ['in general']


def test_a_connection_hears_a_channel_from_when_its_user_joins_until_they_leave(
    client, socket_client, susan, david
):
    channel = _new_channel(client, susan)
    davids = socket_client(auth={'token': david.token})
    membership = f'/api/channels/{channel["id"]}/members/{david.id}'

    _post(client, susan, channel, 'before')
    client.put(membership, headers=david.headers)
    _post(client, susan, channel, 'while a member')
    client.delete(membership, headers=david.headers)
    _post(client, susan, channel, 'after')

    assert _heard(davids) == ['while a member']


def test_a_new_channel_is_heard_by_everyone_and_its_creators_connections_hear_its_messages(
    client, socket_client, susan
):
    susans, anonymous = socket_client(auth={'token': susan.token}), socket_client()

    channel = _new_channel(client, susan)
    _post(client, susan, channel, 'first')

    # get_received empties what a test client holds: read once each.
    heard = susans.get_received()
    assert [e['args'][0]['model']['source'] for e in heard if e['args'][0]['class'] == 'Message'] == ['first']
    assert [c['name'] for c in heard_models(anonymous, 'Channel')] == ['random']


def test_posting_in_a_channel_over_socketio(client, socket_client, susan, david):
    channel = _new_channel(client, susan)
    poster = socket_client(auth={'token': susan.token})

    ack = poster.emit('post_message', {'source': 'hi', 'channel_id': channel['id']}, callback=True)

    assert ack['channel_id'] == channel['id']
    assert client.get(f'/api/channels/{channel["id"]}/messages').json['messages'] == [ack]
    outsider = socket_client(auth={'token': david.token})
    refused = outsider.emit('post_message', {'source': 'hi', 'channel_id': channel['id']}, callback=True)
    assert refused['error'] == 'forbidden'
    missing = outsider.emit('post_message', {'source': 'hi', 'channel_id': 999}, callback=True)
    assert missing['error'] == 'not found'
    for bad in ('x', 0, -1, 2**70, None):
        answer = outsider.emit('post_message', {'source': 'hi', 'channel_id': bad}, callback=True)
        assert answer['error'] == 'bad request', bad
    assert len(client.get(f'/api/channels/{channel["id"]}/messages').json['messages']) == 1
    assert client.get('/api/messages').json['messages'] == []


def test_a_direct_conversation_and_its_messages_reach_its_two_users_alone(
    client, socket_client, accounts, susan, david
):
    carol = accounts.new('carol')
    sockets = {
        'susan': socket_client(auth={'token': susan.token}),
        'david': socket_client(auth={'token': david.token}),
        'carol': socket_client(auth={'token': carol.token}),
        'anonymous': socket_client(),
    }

    conversation = client.post('/api/conversations', json={'user_id': david.id}, headers=susan.headers).json
    _post(client, david, conversation, 'just us')

    for name, socket in sockets.items():
        heard = socket.get_received()
        models = [
            (e['args'][0]['class'], e['args'][0]['model']) for e in heard if e['name'] == 'updated_model'
        ]
        private = [model for kind, model in models if kind != 'User']
        if name in ('susan', 'david'):
            assert private == [conversation, _listed(client, susan, conversation)[0]], name
        else:
            assert private == [], name
            assert 'just us' not in str(heard)


def _listed(client, user, channel):
    return client.get(f'/api/channels/{channel["id"]}/messages', headers=user.headers).json['messages']
