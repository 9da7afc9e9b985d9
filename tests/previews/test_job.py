"""Link previews, end to end: posted link, background fetch, escaped preview, broadcast."""

import re
from html import escape, unescape

import pytest

from flack import previews, render
from flack.extensions import db
from flack.models import Message
from flack.previews import fetch
from flack.previews.fetch import DESCRIPTION_MAX_LENGTH, ELLIPSIS, TITLE_MAX_LENGTH
from flack.realtime import socketio
from flack.render import MOST_PREVIEWS, render_markdown, render_preview
from flack.work import background_work

from ..conftest import Accounts
from ..live import wait_for
from ..pages import Route, html_page

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


def _pending_message(app, author, source, **columns):
    """A message stored directly, pending, with no task of its own racing the test."""
    with app.app_context():
        message = Message(
            user_id=author.id,
            source=source,
            html=render_markdown(source),
            previews_pending=True,
            **columns,
        )
        db.session.add(message)
        db.session.commit()
        return message.id


def _previewed(app, client, author, source):
    """Post ``source`` and wait for its previews; the stored HTML."""
    message = _post(client, author, source)
    wait_for(lambda: _stored(app, message['id'])[1] is False, 'the preview task to finish')
    return message['id'], _stored(app, message['id'])[0]


def _preview_texts(html):
    """The (title, description) pairs of the preview blocks in ``html``, unescaped."""
    blocks = re.findall(r'<blockquote><p><a [^>]*>(.*?)</a></p><p>(.*?)</p></blockquote>', html, re.S)
    return [(unescape(title), unescape(description)) for title, description in blocks]


def _requests_when_run_again(app, message_id, page):
    """How many requests ``page`` receives from the periodic duty and a task run again."""
    requests_so_far = len(page.requests)
    with app.app_context():
        # Old enough for the periodic duty to queue it again, were it still pending.
        db.session.get(Message, message_id).updated_at = 1
        db.session.commit()
    background_work(app).run_periodic_once()
    with app.app_context():
        previews.add_previews(message_id)  # as a task redelivered after a crash would
    return len(page.requests) - requests_so_far


@pytest.fixture
def private_allowed(app_factory):
    app = app_factory(LINK_PREVIEWS_ALLOW_PRIVATE=1)
    return app, app.test_client(), Accounts(app.test_client()).new('susan')


def test_a_preview_is_added_escaped_and_broadcast(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/news'] = HOSTILE_PAGE
    listener = socketio(app).test_client(app)
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
    listener.disconnect()


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


def test_previews_are_appended_to_the_html_rendered_on_post_without_parsing_the_markdown_again(
    private_allowed, serve, monkeypatch
):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/news'] = HOSTILE_PAGE
    source = f'*look*: {page.url("/news")}'
    message_id = _pending_message(app, susan, source)
    posted = render_markdown(source)
    monkeypatch.setattr(render, '_markdown', None)  # any parse from here on fails

    with app.app_context():
        previews.add_previews(message_id)

    preview = render_preview(
        page.url('/news'), '<script>alert(1)</script> News', '<img src=x onerror=alert(2)> today'
    )
    assert _stored(app, message_id) == (posted + preview, False)


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
    # As if the process died between storing the message and fetching.
    lost_id = _pending_message(app, susan, page.url('/'), updated_at=1)

    background_work(app).run_periodic_once()

    wait_for(lambda: _stored(app, lost_id)[1] is False, 'the lost preview to be redone')
    assert '<blockquote>' in _stored(app, lost_id)[0]


def test_a_page_that_may_come_back_leaves_the_message_pending_for_a_retry(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/busy'] = Route(status=503)
    message_id = _pending_message(app, susan, page.url('/busy'))
    with app.app_context():
        with pytest.raises(previews.PreviewsNotReady):
            previews.add_previews(message_id, give_up_on_transient_errors=False)
        assert _stored(app, message_id)[1] is True

        previews.add_previews(message_id, give_up_on_transient_errors=True)
    assert _stored(app, message_id) == (render_markdown(page.url('/busy')), False)


def test_a_page_that_will_never_answer_is_not_retried(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()  # 404 for everything
    message_id = _pending_message(app, susan, page.url('/gone'))
    with app.app_context():
        previews.add_previews(message_id, give_up_on_transient_errors=False)

    assert _stored(app, message_id) == (render_markdown(page.url('/gone')), False)


# Previews are bounded and finite


def test_a_title_holding_a_nul_is_stored_without_it_and_fetched_once(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    # PostgreSQL refuses a NUL in text: once, that made the task fail and be queued again for ever.
    page.routes['/nul'] = html_page(
        '<title>Break\x00ing news</title><meta name="description" content="All\x00 \x07of it">'
    )

    message_id, html = _previewed(app, client, susan, page.url('/nul'))

    assert _preview_texts(html) == [('Breaking news', 'All of it')]
    assert len(page.requests) == 1
    assert _requests_when_run_again(app, message_id, page) == 0


def test_a_page_spelling_lone_surrogates_is_stored_without_them(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    # Half a surrogate pair (UTF-7 can spell one) cannot be encoded for any database.
    page.routes['/utf7'] = Route(
        headers={'Content-Type': 'text/html; charset=utf-7'},
        body=b'<title>Half+2AA- a pair</title><meta name="description" content="and+3AA- the other">',
    )

    message_id, html = _previewed(app, client, susan, page.url('/utf7'))

    assert _preview_texts(html) == [('Half a pair', 'and the other')]
    assert _requests_when_run_again(app, message_id, page) == 0


def test_a_megabyte_of_title_or_description_is_stored_cut(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/title'] = html_page(f'<title>{"Long title " * 100_000}</title>')
    page.routes['/description'] = html_page(f'<meta name="description" content="{"d" * 999_000}">')
    source = f'{page.url("/title")} {page.url("/description")}'

    message_id, html = _previewed(app, client, susan, source)

    (title, _), (_, description) = _preview_texts(html)
    assert len(title) <= TITLE_MAX_LENGTH and title.endswith(ELLIPSIS)
    assert ('Long title ' * 100).startswith(title[:-1])
    assert description == 'd' * (DESCRIPTION_MAX_LENGTH - 1) + ELLIPSIS
    assert len(html) < 2_000  # a few hundred characters a preview, not a megabyte
    assert sorted(request.path for request in page.requests) == ['/description', '/title']
    assert _requests_when_run_again(app, message_id, page) == 0


def test_markup_in_a_title_and_description_is_stored_escaped_and_cut(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    title_markup = '<script>alert(1)</script><b>bold</b>'
    description_markup = '<img src=x onerror=alert(2)><a href="javascript:alert(3)">link</a>'
    page.routes['/markup'] = html_page(
        f'<title>{escape(title_markup) * 1000}</title>'
        f'<meta name="description" content="{escape(description_markup, quote=True) * 1000}">'
    )

    message_id, html = _previewed(app, client, susan, page.url('/markup'))

    title = (title_markup * 10)[: TITLE_MAX_LENGTH - 1] + ELLIPSIS
    description = (description_markup * 10)[: DESCRIPTION_MAX_LENGTH - 1] + ELLIPSIS
    # Cut as text, then escaped whole: no tag and no broken character reference.
    assert f'>{escape(title)}</a></p><p>{escape(description)}</p></blockquote>' in html
    assert not [live for live in ('<script', '<img', '<b>', 'href="javascript') if live in html]
    assert len(page.requests) == 1
    assert _requests_when_run_again(app, message_id, page) == 0


def test_previews_that_cannot_be_stored_leave_the_message_as_it_was_and_done(
    private_allowed, serve, monkeypatch
):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/utf7'] = Route(
        headers={'Content-Type': 'text/html; charset=utf-7'}, body=b'<title>Half+2AA- a pair</title>'
    )
    # As if a character the database refuses got past the cleaning.
    monkeypatch.setattr(fetch, '_UNSTORABLE_CHARACTERS', re.compile('(?!)'))
    message_id = _pending_message(app, susan, page.url('/utf7'))

    with app.app_context():
        previews.add_previews(message_id)

    assert _stored(app, message_id) == (render_markdown(page.url('/utf7')), False)
    assert len(page.requests) == 1
    assert _requests_when_run_again(app, message_id, page) == 0


def test_a_page_that_keeps_failing_in_a_way_that_may_pass_is_fetched_a_bounded_number_of_times(
    private_allowed, serve
):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/busy'] = Route(status=503)
    message_id = _pending_message(app, susan, page.url('/busy'))

    not_ready = 0
    with app.app_context():
        for _run in range(2 * previews.MOST_PREVIEW_ATTEMPTS):  # Celery's retries, the clock's requeues
            try:
                previews.add_previews(message_id, give_up_on_transient_errors=False)
            except previews.PreviewsNotReady:
                not_ready += 1

    # The last attempt gives up and marks the message done.
    assert not_ready == previews.MOST_PREVIEW_ATTEMPTS - 1
    assert len(page.requests) == previews.MOST_PREVIEW_ATTEMPTS
    assert _stored(app, message_id) == (render_markdown(page.url('/busy')), False)


def test_a_message_whose_attempts_all_died_is_marked_done_without_fetching(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/'] = HOSTILE_PAGE
    message_id = _pending_message(app, susan, page.url('/'))
    with app.app_context():
        # As if every run had been cut off while fetching (a crash, an outage).
        db.session.get(Message, message_id).preview_attempts = previews.MOST_PREVIEW_ATTEMPTS
        db.session.commit()

        previews.add_previews(message_id)

    assert _stored(app, message_id) == (render_markdown(page.url('/')), False)
    assert page.requests == []


def test_an_edited_message_has_its_links_fetched_anew(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    page.routes['/busy'] = Route(status=503)
    page.routes['/news'] = HOSTILE_PAGE
    message_id = _pending_message(app, susan, page.url('/busy'))
    with app.app_context():
        for _run in range(previews.MOST_PREVIEW_ATTEMPTS):
            try:
                previews.add_previews(message_id, give_up_on_transient_errors=False)
            except previews.PreviewsNotReady:
                pass

    response = client.put(
        f'/api/messages/{message_id}', json={'source': page.url('/news')}, headers=susan.headers
    )
    assert response.status_code == 204

    html = wait_for(lambda: (stored := _stored(app, message_id))[1] is False and stored[0], 'the preview')
    assert _preview_texts(html)[0][1] == '<img src=x onerror=alert(2)> today'


def test_at_most_a_few_links_of_a_message_are_fetched(private_allowed, serve):
    app, client, susan = private_allowed
    page = serve()
    paths = [f'/{number}' for number in range(MOST_PREVIEWS + 2)]
    for path in paths:
        page.routes[path] = HOSTILE_PAGE

    _previewed(app, client, susan, ' '.join(page.url(path) for path in paths))

    assert sorted(request.path for request in page.requests) == paths[:MOST_PREVIEWS]
