"""Link previews, end to end: posted link, background fetch, escaped preview, broadcast."""

import pytest

from flack import previews
from flack.extensions import db
from flack.models import Message, User

from .conftest import Accounts
from .live import wait_for
from .pages import Route, html_page

HOSTILE_PAGE = html_page(
    '<html><head><title>&lt;script&gt;alert(1)&lt;/script&gt; News</title>'
    '<meta name="description" content="&lt;img src=x onerror=alert(2)&gt; today"></head></html>'
)


def _post(client, author, source):
    response = client.post('/api/messages', json={'source': source}, headers=author.headers)
    assert response.status_code == 201
    return response.json


def _stored(app, message_id):
    with app.app_context():
        message = db.session.get(Message, message_id)
        return message.html, message.previews_pending


@pytest.fixture
def private_allowed(app_factory):
    app = app_factory(LINK_PREVIEWS_ALLOW_PRIVATE=1)
    return app, app.test_client(), Accounts(app.test_client()).new('susan')


def test_a_preview_is_added_escaped_and_broadcast(private_allowed, serve, socket_client):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/news'] = HOSTILE_PAGE
    listener = socket_client()
    url = page.url('/news')

    message = _post(client, susan, f'look: {url}')

    html = wait_for(lambda: (stored := _stored(app, message['id']))[1] is False and stored[0], 'the preview')
    assert html.startswith('look: <a href="')
    assert '<blockquote><p><a href="' + url + '"' in html
    assert '&lt;script&gt;alert(1)&lt;/script&gt; News</a></p>' in html
    assert '<p>&lt;img src=x onerror=alert(2)&gt; today</p></blockquote>' in html
    assert '<script' not in html and '<img' not in html
    assert client.get(f'/api/messages/{message["id"]}').json['html'] == html
    broadcast = [
        event['args'][0]['model']['html']
        for event in listener.get_received()
        if event['name'] == 'updated_model' and event['args'][0]['class'] == 'Message'
    ]
    assert broadcast == [message['html'], html]


@pytest.mark.parametrize('host', ['127.0.0.1', 'localhost'])
def test_by_default_an_inside_page_receives_no_request(app, client, susan, serve, host):
    page = serve()
    page.routes['/'] = HOSTILE_PAGE

    message = _post(client, susan, f'look: {page.url("/", host=host)}')

    wait_for(lambda: _stored(app, message['id'])[1] is False, 'the preview task to finish')
    assert _stored(app, message['id'])[0] == message['html']
    assert page.requests == [] and page.connections == 0


def test_a_link_that_cannot_be_fetched_is_left_as_it_is(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()  # answers 404 to everything

    message = _post(client, susan, f'gone: {page.url("/missing")}')

    wait_for(lambda: _stored(app, message['id'])[1] is False, 'the preview task to finish')
    assert _stored(app, message['id'])[0] == message['html']


def test_redoing_a_finished_preview_task_changes_nothing(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/'] = HOSTILE_PAGE
    message = _post(client, susan, page.url('/'))
    html = wait_for(lambda: (stored := _stored(app, message['id']))[1] is False and stored[0], 'the preview')
    requests_so_far = len(page.requests)

    with app.app_context():
        previews.add_previews(message['id'])

    assert _stored(app, message['id'])[0] == html
    assert len(page.requests) == requests_so_far


def test_messages_without_links_are_not_queued(app, client, susan):
    message = _post(client, susan, 'no links here')

    assert _stored(app, message['id'])[1] is False


def test_previews_can_be_turned_off(app_factory, serve):
    app = app_factory(LINK_PREVIEWS=0, LINK_PREVIEWS_ALLOW_PRIVATE=1)
    client = app.test_client()
    page = serve()
    page.routes['/'] = HOSTILE_PAGE

    message = _post(client, Accounts(client).new('susan'), page.url('/'))

    assert _stored(app, message['id']) == (message['html'], False)
    assert page.requests == []


def test_lost_preview_tasks_are_found_and_redone(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/'] = HOSTILE_PAGE
    with app.app_context():
        # As if the process died between storing the message and fetching.
        author = db.session.get(User, susan.id)
        lost = Message(user=author, source=page.url('/'), html='x', previews_pending=True, updated_at=1)
        db.session.add(lost)
        db.session.commit()
        lost_id = lost.id

    app.extensions['flack.background'].run_periodic_once()

    wait_for(lambda: _stored(app, lost_id)[1] is False, 'the lost preview to be redone')
    assert '<blockquote>' in _stored(app, lost_id)[0]


def test_a_page_that_may_come_back_leaves_the_message_pending_for_a_retry(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/busy'] = Route(status=503)
    with app.app_context():
        # Stored directly: the background task must not race this test.
        message = Message(
            user=db.session.get(User, susan.id), source=page.url('/busy'), html='x', previews_pending=True
        )
        db.session.add(message)
        db.session.commit()
        message_id = message.id

        with pytest.raises(previews.PreviewsNotReady):
            previews.add_previews(message_id, give_up_on_transient_errors=False)
        assert _stored(app, message_id)[1] is True

        previews.add_previews(message_id, give_up_on_transient_errors=True)
    assert _stored(app, message_id) == ('x', False)


def test_a_page_that_will_never_answer_is_not_retried(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()  # 404 for everything
    with app.app_context():
        message = Message(
            user=db.session.get(User, susan.id), source=page.url('/gone'), html='x', previews_pending=True
        )
        db.session.add(message)
        db.session.commit()

        previews.add_previews(message.id, give_up_on_transient_errors=False)

        assert db.session.get(Message, message.id).previews_pending is False
