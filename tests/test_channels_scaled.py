"""Channels in the scaled mode for real: two web processes, a worker, PostgreSQL
and Redis, python-socketio clients on both web processes. A channel's
messages, and their link previews, reach its members' connections, once,
wherever they are connected; nobody else's. A direct conversation, and its
messages and their previews, reach its two users alone."""

import time

import pytest

from .live import wait_for
from .pages import html_page
from .test_scaled import SETTLE, Api

pytestmark = pytest.mark.scaled

PAGE = html_page('<title>Channel page</title><meta name="description" content="For members">')


def _sources(listener):
    return sorted(message['source'] for message in listener.messages())


def _latest(listener, message_id):
    return [message for message in listener.messages() if message['id'] == message_id][-1]


def test_a_channels_messages_and_previews_reach_its_members_on_every_web_process_once(
    formation, listeners, serve
):
    page = serve()
    page.routes['/page'] = PAGE
    flack = formation()
    web1, web2 = flack.start('web'), flack.start('web')
    flack.start('worker')
    api1, api2 = Api(web1.url), Api(web2.url)
    susan_user, susan = api1.new_user('susan')
    david_user, david = api2.new_user('david')
    _, carol = api1.new_user('carol')
    channel = api1.call('POST', '/api/channels', susan, json={'name': 'random'}).json()
    members = f'/api/channels/{channel["id"]}/members'
    in_random = f'/api/channels/{channel["id"]}/messages'

    on = {
        'susan': listeners(web1.url, auth={'token': susan}),
        # Joins below, through the other process than the one his connection is on.
        'david': listeners(web2.url, auth={'token': david}),
        'carol': listeners(web2.url, auth={'token': carol}),
        'anonymous': listeners(web1.url),
    }
    assert api1.call('PUT', f'{members}/{david_user["id"]}', david).status_code == 204

    api2.call('POST', in_random, susan, json={'source': 'for random'})
    api2.call('POST', '/api/messages', carol, json={'source': 'for everyone'})
    linked = api1.call('POST', in_random, david, json={'source': f'see {page.url("/page")}'}).json()
    wait_for(
        lambda: '<blockquote>' in _latest(on['david'], linked['id'])['html'],
        'the preview, heard by david',
        60,
    )
    time.sleep(SETTLE)

    linked_source = linked['source']
    in_channel = ['for everyone', 'for random', linked_source, linked_source]  # posted, then previewed
    assert _sources(on['susan']) == sorted(in_channel)
    assert _sources(on['david']) == sorted(in_channel)
    assert _sources(on['carol']) == ['for everyone']
    assert _sources(on['anonymous']) == ['for everyone']
    assert '<blockquote>' in _latest(on['susan'], linked['id'])['html']

    # A direct conversation, opened on web 2, and a message with a link in
    # it on web 1: the two alone hear of either, and of its preview.
    conversation = api2.call('POST', '/api/conversations', david, json={'user_id': susan_user['id']}).json()
    private = api1.call(
        'POST',
        f'/api/channels/{conversation["id"]}/messages',
        susan,
        json={'source': f'only us: {page.url("/page")}'},
    ).json()
    wait_for(
        lambda: '<blockquote>' in _latest(on['susan'], private['id'])['html'],
        'the private preview, heard by susan',
        60,
    )
    wait_for(
        lambda: len([m for m in on['david'].messages() if m['id'] == private['id']]) == 2, 'david to hear it'
    )
    time.sleep(SETTLE)
    for name in ('susan', 'david'):
        assert on[name].channels() == [conversation], name
        assert [m['html'] for m in on[name].messages() if m['id'] == private['id']][-1].count(
            '<blockquote>'
        ) == 1
    for name in ('carol', 'anonymous'):
        assert on[name].channels() == [], name
        assert 'only us' not in str(on[name].events), name

    # Leaving, through web 2, takes his connection out of the room.
    assert api2.call('DELETE', f'{members}/{david_user["id"]}', david).status_code == 204
    api1.call('POST', in_random, susan, json={'source': 'after david left'})
    wait_for(lambda: 'after david left' in _sources(on['susan']), 'susan to hear the last post')
    time.sleep(SETTLE)
    assert 'after david left' not in _sources(on['david'])
    assert susan_user['id'] != david_user['id']
