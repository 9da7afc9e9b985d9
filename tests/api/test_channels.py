"""Channels: general from the start, creating, joining and leaving, and each
channel's messages; the original routes as general's. Direct conversations:
exactly two users read them, and to anyone else they do not exist, in any
listing, count or error."""

import pytest

from flack.models import GENERAL_CHANNEL_ID

from ..conftest import stored_counts

CHANNEL_FIELDS = {'id', 'name', 'topic', 'direct', 'creator_id', 'created_at', 'updated_at', '_links'}


def _create(client, user, name, topic=None):
    body = {'name': name} if topic is None else {'name': name, 'topic': topic}
    return client.post('/api/channels', json=body, headers=user.headers)


def _member_ids(client, channel_id):
    return [user['id'] for user in client.get(f'/api/channels/{channel_id}/members').json['users']]


def test_general_exists_from_the_start_and_every_user_is_a_member(client, susan, david):
    channels = client.get('/api/channels').json['channels']

    assert [(channel['id'], channel['name'], channel['creator_id']) for channel in channels] == [
        (GENERAL_CHANNEL_ID, 'general', None)
    ]
    assert sorted(_member_ids(client, GENERAL_CHANNEL_ID)) == sorted([susan.id, david.id])


def test_a_new_channel_is_answered_with_its_address_and_its_creator_is_its_member(client, susan):
    response = _create(client, susan, 'Random', 'Anything goes')

    assert response.status_code == 201
    channel = response.json
    assert set(channel) == CHANNEL_FIELDS
    assert (channel['name'], channel['topic'], channel['creator_id']) == ('Random', 'Anything goes', susan.id)
    assert response.headers['Location'] == f'/api/channels/{channel["id"]}'
    assert client.get(response.headers['Location']).json == channel
    assert _member_ids(client, channel['id']) == [susan.id]
    mine = client.get('/api/channels?member=1', headers=susan.headers).json['channels']
    assert [c['name'] for c in mine] == ['general', 'Random']


def test_a_taken_channel_name_is_a_409_whatever_its_case_or_lookalike_characters(client, susan, david):
    _create(client, susan, 'random')

    for name in ('random', 'RANDOM', 'ｒａｎｄｏｍ', 'r\u0430ndom', 'General'):  # fullwidth, Cyrillic а
        answer = _create(client, david, name)
        assert answer.status_code == 409, name
        assert answer.json['error'] == 'conflict'
    assert 'reads the same as' in _create(client, david, 'RANDOM').json['message']
    assert len(client.get('/api/channels').json['channels']) == 2


def test_a_bad_channel_is_a_400_and_stores_nothing(app, client, susan):
    before = client.get('/api/channels').json
    stored = stored_counts(app)
    bodies = [
        {},
        {'name': ''},
        {'name': ' random'},
        {'name': 'x' * 33},
        {'name': 'evil\u202etxt'},
        {'name': 42},
        {'name': 'ok', 'topic': 'x' * 251},
        {'name': 'ok', 'topic': None},
    ]

    for body in bodies:
        answer = client.post('/api/channels', json=body, headers=susan.headers)
        assert answer.status_code == 400, body
        assert 'name' in str(answer.json['detail']) or 'topic' in str(answer.json['detail'])
    assert client.get('/api/channels').json == before
    assert stored_counts(app) == stored


def test_making_a_channel_takes_a_token(client):
    assert _create(client, type('Anonymous', (), {'headers': {}})(), 'random').status_code == 401
    assert client.get('/api/channels?member=1').status_code == 401


def test_joining_and_leaving_a_channel(client, susan, david):
    channel = _create(client, susan, 'random').json
    members = f'/api/channels/{channel["id"]}/members/{david.id}'

    assert client.put(members, headers=david.headers).status_code == 204
    assert client.put(members, headers=david.headers).status_code == 204  # a member already: nothing changes
    assert sorted(_member_ids(client, channel['id'])) == sorted([susan.id, david.id])

    assert client.delete(members, headers=david.headers).status_code == 204
    assert _member_ids(client, channel['id']) == [susan.id]


def test_nobody_joins_or_leaves_for_someone_else_or_leaves_general(client, susan, david):
    channel = _create(client, susan, 'random').json

    assert (
        client.put(f'/api/channels/{channel["id"]}/members/{david.id}', headers=susan.headers).status_code
        == 403
    )
    assert (
        client.delete(f'/api/channels/{channel["id"]}/members/{susan.id}', headers=david.headers).status_code
        == 403
    )
    general = f'/api/channels/{GENERAL_CHANNEL_ID}/members/{susan.id}'
    left = client.delete(general, headers=susan.headers)
    assert left.status_code == 403
    assert 'general' in left.json['message']
    assert client.put('/api/channels/999/members/1', headers=susan.headers).status_code == 404
    assert _member_ids(client, channel['id']) == [susan.id]
    assert susan.id in _member_ids(client, GENERAL_CHANNEL_ID)


def test_a_missing_channel_is_a_404_on_every_route(client, susan):
    assert client.get('/api/channels/999').status_code == 404
    assert client.get('/api/channels/999/members').status_code == 404
    assert client.get('/api/channels/999/messages').status_code == 404
    answer = client.post('/api/channels/999/messages', json={'source': 'hi'}, headers=susan.headers)
    assert answer.status_code == 404
    assert answer.json['error'] == 'not found'


def test_a_channel_keeps_its_own_messages_and_names_itself_in_them(client, susan):
    channel = _create(client, susan, 'random').json
    client.post('/api/messages', json={'source': 'in general'}, headers=susan.headers)

    posted = client.post(
        f'/api/channels/{channel["id"]}/messages', json={'source': 'in *random*'}, headers=susan.headers
    )

    assert posted.status_code == 201
    message = posted.json
    assert message['channel_id'] == channel['id']
    assert message['_links']['channel'] == f'/api/channels/{channel["id"]}'
    assert message['html'] == 'in <em>random</em>'
    assert posted.headers['Location'] == f'/api/messages/{message["id"]}'
    assert client.get(posted.headers['Location']).json == message
    listed = client.get(f'/api/channels/{channel["id"]}/messages').json['messages']
    assert [m['source'] for m in listed] == ['in *random*']
    # The original routes are general's, in the original shape.
    general = client.get('/api/messages').json['messages']
    assert [m['source'] for m in general] == ['in general']
    assert 'channel_id' not in general[0] and 'channel' not in general[0]['_links']
    assert client.get(f'/api/channels/{GENERAL_CHANNEL_ID}/messages').json['messages'] == general


def test_a_channel_listing_takes_the_queries_of_the_original_one(client, susan):
    channel = _create(client, susan, 'random').json
    url = f'/api/channels/{channel["id"]}/messages'
    ids = [client.post(url, json={'source': f'm{n}'}, headers=susan.headers).json['id'] for n in range(5)]

    page = client.get(f'{url}?limit=2&before={ids[3]}').json['messages']
    assert [m['id'] for m in page] == ids[1:3]
    newest = client.get(url).json['messages'][-1]['updated_at']
    assert client.get(f'{url}?updated_since={newest}').json['messages'] == []
    assert client.get(f'{url}?user_id={susan.id + 1}').json['messages'] == []
    assert client.get(f'{url}?limit=0').status_code == 400


def test_only_members_post_in_a_channel_and_a_refused_post_stores_nothing(app, client, susan, david):
    channel = _create(client, susan, 'random').json
    url = f'/api/channels/{channel["id"]}/messages'
    stored = stored_counts(app)

    refused = client.post(url, json={'source': 'let me in'}, headers=david.headers)
    assert refused.status_code == 403
    assert '#random' in refused.json['message']
    # Checked before the body: a bad one says nothing more.
    assert client.post(url, json={}, headers=david.headers).status_code == 403
    assert stored_counts(app) == stored

    client.put(f'/api/channels/{channel["id"]}/members/{david.id}', headers=david.headers)
    assert client.post(url, json={'source': 'thanks'}, headers=david.headers).status_code == 201
    client.delete(f'/api/channels/{channel["id"]}/members/{david.id}', headers=david.headers)
    assert client.post(url, json={'source': 'again'}, headers=david.headers).status_code == 403


def test_posts_in_every_channel_share_one_rate_limit(app_factory, accounts):
    client = app_factory(RATELIMIT_ENABLED=1, RATELIMIT_POSTS_PER_USER='2 per minute').test_client()
    susan = type(accounts)(client).new('susan')
    channel = _create(client, susan, 'random').json

    first = client.post('/api/messages', json={'source': 'one'}, headers=susan.headers)
    second = client.post(
        f'/api/channels/{channel["id"]}/messages', json={'source': 'two'}, headers=susan.headers
    )
    third = client.post(
        f'/api/channels/{channel["id"]}/messages', json={'source': 'three'}, headers=susan.headers
    )

    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 429]


def test_channels_made_by_one_user_are_rate_limited(app_factory, accounts):
    client = app_factory(RATELIMIT_ENABLED=1, RATELIMIT_CHANNELS_PER_USER='2 per hour').test_client()
    susan = type(accounts)(client).new('susan')

    answers = [_create(client, susan, f'channel {n}').status_code for n in range(3)]

    assert answers == [201, 201, 429]
    assert len(client.get('/api/channels').json['channels']) == 3  # general and two


@pytest.fixture
def carol(accounts):
    return accounts.new('carol')


def _open(client, user, other):
    return client.post('/api/conversations', json={'user_id': other.id}, headers=user.headers)


def _say(client, user, conversation, source):
    url = f'/api/channels/{conversation["id"]}/messages'
    return client.post(url, json={'source': source}, headers=user.headers)


def test_a_conversation_is_opened_once_and_found_by_both(client, susan, david):
    opened = _open(client, susan, david)

    assert opened.status_code == 201
    conversation = opened.json
    assert conversation['direct'] is True and conversation['name'] is None
    assert sorted(conversation['user_ids']) == sorted([susan.id, david.id])
    assert opened.headers['Location'] == f'/api/channels/{conversation["id"]}'
    again = _open(client, david, susan)
    assert again.status_code == 200 and again.json == conversation
    for user in (susan, david):
        assert client.get('/api/conversations', headers=user.headers).json['channels'] == [conversation]
        assert client.get(f'/api/channels/{conversation["id"]}', headers=user.headers).json == conversation


def test_the_two_read_and_write_it(client, susan, david):
    conversation = _open(client, susan, david).json

    said = _say(client, susan, conversation, 'just *us*')
    answered = _say(client, david, conversation, 'indeed')

    assert said.status_code == answered.status_code == 201
    assert said.json['channel_id'] == conversation['id']
    for user in (susan, david):
        listed = client.get(f'/api/channels/{conversation["id"]}/messages', headers=user.headers).json
        assert [m['source'] for m in listed['messages']] == ['just *us*', 'indeed']
        assert client.get(f'/api/messages/{said.json["id"]}', headers=user.headers).json == said.json
    assert (
        client.put(
            f'/api/messages/{said.json["id"]}', json={'source': 'just us'}, headers=susan.headers
        ).status_code
        == 204
    )


def test_to_anyone_else_a_conversation_and_its_messages_do_not_exist(app, client, susan, david, carol):
    conversation = _open(client, susan, david).json
    message = _say(client, susan, conversation, 'secret').json
    missing_channel = client.get('/api/channels/999', headers=carol.headers).json
    missing_message = client.get('/api/messages/999', headers=carol.headers).json
    stored = stored_counts(app)
    base = f'/api/channels/{conversation["id"]}'

    for headers in (carol.headers, {}):  # another user, and nobody signed in
        for url in (base, f'{base}/members', f'{base}/messages', f'{base}/messages?updated_since=0'):
            answer = client.get(url, headers=headers)
            assert (answer.status_code, answer.json) == (404, missing_channel), url
        answer = client.get(f'/api/messages/{message["id"]}', headers=headers)
        assert (answer.status_code, answer.json) == (404, missing_message)
    writes = [
        client.post(f'{base}/messages', json={'source': 'let me in'}, headers=carol.headers),
        client.put(f'{base}/members/{carol.id}', headers=carol.headers),
        client.delete(f'{base}/members/{carol.id}', headers=carol.headers),
        client.put(f'/api/messages/{message["id"]}', json={'source': 'mine now'}, headers=carol.headers),
    ]
    assert [answer.status_code for answer in writes] == [404, 404, 404, 404]
    assert writes[0].json == missing_channel and writes[3].json == missing_message
    # Not in anyone else's listings either.
    assert client.get('/api/conversations', headers=carol.headers).json['channels'] == []
    for headers in (carol.headers, susan.headers, {}):
        assert [c['name'] for c in client.get('/api/channels', headers=headers).json['channels']] == [
            'general'
        ]
    assert [
        c['name'] for c in client.get('/api/channels?member=1', headers=susan.headers).json['channels']
    ] == ['general']
    assert 'secret' not in client.get('/api/messages', headers=carol.headers).text
    assert 'secret' not in client.get(f'/api/messages?user_id={susan.id}', headers=carol.headers).text
    assert stored_counts(app) == stored


def test_a_conversation_cannot_be_left_or_opened_with_yourself_or_nobody(client, susan, david):
    conversation = _open(client, susan, david).json

    left = client.delete(f'/api/channels/{conversation["id"]}/members/{susan.id}', headers=susan.headers)
    assert left.status_code == 403
    assert _open(client, susan, susan).status_code == 400
    nobody = client.post('/api/conversations', json={'user_id': 999}, headers=susan.headers)
    assert nobody.status_code == 404
    for body in ({}, {'user_id': 'x'}, {'user_id': 0}, {'user_id': 2**70}, []):
        assert client.post('/api/conversations', json=body, headers=susan.headers).status_code == 400, body
    assert client.post('/api/conversations', json={'user_id': david.id}).status_code == 401
    assert client.get('/api/conversations').status_code == 401
    assert len(client.get('/api/conversations', headers=susan.headers).json['channels']) == 1


def _unread(client, user, field=None):
    return {
        c['channel_id']: c[field] if field else (c['last_read_id'], c['unread'])
        for c in client.get('/api/unread', headers=user.headers).json['channels']
    }


def test_unread_counts_others_messages_after_the_last_one_read(client, susan, david, carol):
    channel = _create(client, susan, 'random').json
    client.put(f'/api/channels/{channel["id"]}/members/{david.id}', headers=david.headers)
    theirs = [_say(client, david, channel, f'from david {n}').json['id'] for n in range(3)]
    mine = _say(client, susan, channel, 'from susan').json['id']
    read = f'/api/channels/{channel["id"]}/read'

    assert _unread(client, susan) == {GENERAL_CHANNEL_ID: (0, 0), channel['id']: (0, 3)}
    # What a client hearing of messages as it asks has counted already.
    assert _unread(client, susan, 'newest_id') == {GENERAL_CHANNEL_ID: 0, channel['id']: mine}
    in_general = _say(client, carol, {'id': GENERAL_CHANNEL_ID}, 'in general').json['id']
    assert _unread(client, susan, 'newest_id') == {GENERAL_CHANNEL_ID: in_general, channel['id']: mine}
    assert client.put(read, json={'message_id': theirs[1]}, headers=susan.headers).status_code == 204
    assert _unread(client, susan)[channel['id']] == (theirs[1], 1)
    client.put(read, json={'message_id': theirs[0]}, headers=susan.headers)  # never back
    assert _unread(client, susan)[channel['id']] == (theirs[1], 1)
    client.delete(f'/api/messages/{theirs[2]}', headers=david.headers)
    assert _unread(client, susan)[channel['id']] == (theirs[1], 0)

    assert client.put(read, json={'message_id': 1}, headers=carol.headers).status_code == 403
    for body in ({}, {'message_id': -1}, {'message_id': 'x'}, {'message_id': 2**70}):
        assert client.put(read, json=body, headers=susan.headers).status_code == 400, body
    conversation = _open(client, susan, david).json
    hidden = client.put(
        f'/api/channels/{conversation["id"]}/read', json={'message_id': 1}, headers=carol.headers
    )
    assert hidden.status_code == 404
    assert client.get('/api/unread').status_code == 401
