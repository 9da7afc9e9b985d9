"""The browser client in real Chromium (Debian's package, driven by Playwright)."""

import os
import re
import shutil
import time

import pytest
import requests

from flack import create_app
from flack.chat import post_message
from flack.extensions import db
from flack.models import User

from .conftest import failed
from .live import ROOT, LiveFlack
from .pages import html_page
from .services import service_missing

playwright_api = pytest.importorskip('playwright.sync_api')
expect = playwright_api.expect

# Refreshed by FLACK_UPDATE_SCREENSHOT=1 make test; shown in the README.
README_SCREENSHOT = ROOT / 'docs' / 'flack-chat.png'
README_PHONE_SCREENSHOT = ROOT / 'docs' / 'flack-phone.png'
DESKTOP = {'width': 1280, 'height': 720}
PHONE = {'width': 360, 'height': 740}
HOSTILE_NICKNAME = '<img src=x onerror=alert(1)>'


@pytest.fixture(scope='module')
def browser():
    executable = shutil.which('chromium')
    if executable is None:
        service_missing('chromium', "Debian's chromium package is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                '--no-sandbox',
                '--disable-gpu',
                '--disable-background-networking',
                '--disable-component-update',
                '--disable-sync',
                '--no-first-run',
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def server(request, tmp_path):
    # Whoever signs up as boss moderates.
    with LiveFlack(tmp_path, LINK_PREVIEWS_ALLOW_PRIVATE=1, ADMIN_NICKNAMES='boss') as live:
        yield live
    if failed(request):  # what the server saw, in the failure's report
        print(f'--- the web process log\n{live.log.read_text(errors="replace")[-20000:]}')


class Person:
    """One browser context: a user at their own browser, watched for trouble."""

    def __init__(self, browser, server, viewport=DESKTOP):
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.server = server
        self.console_errors = []
        self.failed_requests = []
        self.dialogs = []
        self._in_flight = set()
        self._cut_off = set()  # on their way when the page was loaded again
        self.page.on('request', self._request)
        self.page.on('requestfinished', lambda request: self._in_flight.discard(request))
        self.page.on(
            'console', lambda message: message.type == 'error' and self.console_errors.append(message.text)
        )
        self.page.on('pageerror', lambda error: self.console_errors.append(str(error)))
        self.page.on('requestfailed', self._request_failed)
        self.page.on(
            'response', lambda r: r.status >= 400 and self.failed_requests.append(f'{r.status} {r.url}')
        )
        self.page.on('dialog', self._dialog)

    def _request(self, request):
        # Events come in order: what is on its way when the page starts loading again is cut off
        # by the browser as the old page goes, as it is for a user who reloads.
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self._cut_off |= self._in_flight
        self._in_flight.add(request)

    def _request_failed(self, request):
        self._in_flight.discard(request)
        if not (request in self._cut_off and request.failure == 'net::ERR_ABORTED'):
            self.failed_requests.append(f'{request.url} ({request.failure})')

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self):
        self.page.goto(self.server.url)
        return self

    def sign_in(self, nickname, password='correct horse'):
        self.page.fill('#nickname', nickname)
        self.page.fill('#password', password)
        self.page.click('#sign-in-form button[type=submit]')
        expect(self.page.locator('#me')).to_have_text(nickname)
        expect(self.page.locator('#connection')).to_have_text('connected')
        return self

    def say(self, source):
        self.page.fill('#source', source)
        self.page.press('#source', 'Enter')

    def message(self, text):
        return self.page.locator('.message .body', has_text=text)

    def person(self, nickname):
        return self.page.locator('#users li', has=self.page.locator('.name', has_text=nickname))

    def channel(self, name):
        """One of your channels in the sidebar, by name."""
        return self.page.locator('#channel-list .channel', has_text=f'# {name}')

    def conversation(self, nickname):
        return self.page.locator('#conversation-list .channel', has_text=nickname)

    def submit_channel_name(self, name):
        self.page.fill('#new-channel-name', name)
        self.page.click('#new-channel-form button')

    def create_channel(self, name):
        """Make a channel and wait until it is the open one: what is said next is said there."""
        self.submit_channel_name(name)
        expect(self.page.locator('#channel-title')).to_have_text(f'# {name}')

    def join(self, name):
        """Join a channel from the sidebar's More channels."""
        self.page.click('.browse summary')
        self.page.locator('.other-channels li', has_text=name).locator('.join').click()

    def unread(self, entry):
        return entry.locator('.unread')

    def open_channel(self, entry, title):
        """Open a channel or conversation from the sidebar and wait for its messages."""
        with self.page.expect_response(lambda response: '/messages?limit=' in response.url):
            entry.click()
        expect(self.page.locator('#channel-title')).to_have_text(title)

    def heard(self):
        """Every Socket.IO frame this page receives from now on, as text."""
        frames = []
        self.page.on('websocket', lambda ws: ws.on('framereceived', lambda frame: frames.append(str(frame))))
        return frames

    def close(self):
        self.context.close()


def authorization(server, nickname, password='correct horse'):
    """The headers of a client of the API signed in as ``nickname``."""
    answer = requests.post(f'{server.url}/api/tokens', auth=(nickname, password), timeout=10)
    return {'Authorization': f'Bearer {answer.json()["token"]}'}


@pytest.fixture
def people(browser, server):
    made = []

    def arrive(viewport=DESKTOP):
        made.append(Person(browser, server, viewport).open())
        return made[-1]

    yield arrive
    for person in made:
        person.close()


def test_two_people_chat_live_with_markdown_presence_and_previews(server, people, serve, tmp_path):
    page = serve()
    page.routes['/news'] = html_page(
        '<title>Local &amp; news</title><meta name="description" content="All of it">'
    )
    susan = people().sign_in('susan')
    david = people().sign_in('david')

    expect(susan.person('david')).to_have_attribute('data-online', 'true')
    expect(david.person('susan')).to_have_attribute('data-online', 'true')

    susan.say('hello *world*')
    expect(david.message('hello world').locator('em')).to_have_text('world')
    expect(susan.page.locator('#source')).to_have_value('')
    expect(susan.page.locator('.message')).to_have_count(1)  # the answer and the event: shown once

    david.say(f'read this: {page.url("/news")}')
    for person in (susan, david):
        preview = person.page.locator('.message blockquote a')
        expect(preview).to_have_text('Local & news')
        expect(person.page.locator('.message blockquote')).to_contain_text('All of it')
    expect(susan.page.locator('.message')).to_have_count(2)

    expect(susan.page.locator('#stats-value')).to_have_text(re.compile(r'^\d+\.\d\d requests/s$'))
    expect(susan.page.locator('#stats-line')).to_have_attribute('points', re.compile(r'\d+(\.\d+)?,\d'))
    susan.page.screenshot(path=str(tmp_path / 'susan.png'))
    david.page.screenshot(path=str(tmp_path / 'david.png'))
    for person in (susan, david):
        assert person.console_errors == [] and person.failed_requests == []

    david.page.click('#sign-out')
    expect(susan.person('david')).to_have_attribute('data-online', 'false')


def test_the_answer_to_a_post_arriving_after_its_preview_does_not_hide_the_preview(people, serve):
    # The preview's event and the post's answer race: the preview is added
    # within the same second, with the same updated_at, and the answer (the
    # message without it) may reach the page last. Here it is held back
    # until the event has shown the preview.
    page = serve()
    page.routes['/news'] = html_page('<title>Late answer</title>')
    susan = people().sign_in('susan')
    held = []

    def hold_posts(route):
        if route.request.method == 'POST':
            held.append((route, route.fetch()))
        else:
            route.fallback()

    susan.page.route('**/api/messages', hold_posts)
    susan.say(f'read this: {page.url("/news")}')
    expect(susan.page.locator('.message blockquote a')).to_have_text('Late answer')

    route, answer = held.pop()
    assert 'blockquote' not in answer.json()['html']  # the message as posted, before its preview
    route.fulfill(response=answer)
    expect(susan.page.locator('#source')).to_have_value('')  # the answer was taken in
    expect(susan.page.locator('.message blockquote a')).to_have_text('Late answer')
    expect(susan.page.locator('.message')).to_have_count(1)


def test_a_hostile_nickname_is_shown_as_text_and_runs_nothing(people):
    mallory = people().sign_in(HOSTILE_NICKNAME)
    susan = people().sign_in('susan')

    mallory.say('hi <b>there</b> <img src=y onerror=alert(2)>')

    expect(susan.person(HOSTILE_NICKNAME)).to_have_count(1)
    expect(susan.page.locator('.message .author')).to_have_text(HOSTILE_NICKNAME)
    expect(susan.message('hi there').locator('b')).to_have_text('there')
    assert susan.page.locator('#users img, .message img').count() == 0
    assert mallory.page.locator('#me').inner_text() == HOSTILE_NICKNAME
    time.sleep(0.5)  # time for any injected handler to fire
    assert susan.dialogs == [] and mallory.dialogs == []


def test_a_reload_keeps_the_user_signed_in_and_signing_out_returns_to_the_form(server, people):
    susan = people().sign_in('susan')
    susan.say('before the reload')

    susan.page.reload()

    expect(susan.page.locator('#me')).to_have_text('susan')
    expect(susan.message('before the reload')).to_have_count(1)
    susan.page.click('#sign-out')
    expect(susan.page.locator('#sign-in-form')).to_be_visible()
    susan.page.reload()
    expect(susan.page.locator('#sign-in-form')).to_be_visible()


def _bob_in_general_and_a_member_of_plans(people):
    """alice makes plans, bob joins it and goes back to general: his page and plans' id."""
    people().sign_in('alice').create_channel('plans')
    bob = people().sign_in('bob')
    bob.join('plans')
    expect(bob.page.locator('#channel-title')).to_have_text('# plans')
    bob.open_channel(bob.channel('general'), '# general')
    return bob, bob.channel('plans').get_attribute('data-channel-id')


def test_what_is_said_while_a_page_starts_reaches_it(server, people):
    bob, plans = _bob_in_general_and_a_member_of_plans(people)
    headers = authorization(server, 'alice')

    def say_meanwhile(route):
        # After the page's other first reads, before its connection.
        first_page = route.fetch()
        for path, source in (
            ('/api/messages', 'said as the page started'),
            (f'/api/channels/{plans}/messages', 'planned as the page started'),
        ):
            requests.post(f'{server.url}{path}', json={'source': source}, headers=headers, timeout=10)
        route.fulfill(response=first_page)

    bob.page.route(re.compile(r'/api/messages\?limit='), say_meanwhile, times=1)
    bob.page.reload()

    expect(bob.message('said as the page started')).to_have_count(1)
    expect(bob.unread(bob.channel('plans'))).to_have_text('1')
    bob.open_channel(bob.channel('plans'), '# plans')
    expect(bob.message('planned as the page started')).to_have_count(1)


def test_a_message_heard_while_the_counts_are_read_again_is_counted_once(server, people):
    bob, plans = _bob_in_general_and_a_member_of_plans(people)
    headers = authorization(server, 'alice')
    asked = []

    def say_as_the_counts_cross(route):
        asked.append(route.request.url)
        if len(asked) != 2:  # the page's first read; the second is its connection's catch-up
            route.continue_()
            return
        counts = route.fetch()  # counted before the message is said
        url = f'{server.url}/api/channels/{plans}/messages'
        requests.post(url, json={'source': 'said as they were counted'}, headers=headers, timeout=10)
        time.sleep(1)  # its event reaches the page before the counts do
        route.fulfill(response=counts)

    bob.page.route('**/api/unread', say_as_the_counts_cross)
    with bob.page.expect_response(lambda response: '/api/unread' in response.url and len(asked) == 2):
        bob.page.reload()
    # Said after the counts' answer came: once it is shown, that answer was taken in.
    general = f'{server.url}/api/messages'
    requests.post(general, json={'source': 'after the counts'}, headers=headers, timeout=10)
    expect(bob.message('after the counts')).to_have_count(1)

    expect(bob.unread(bob.channel('plans'))).to_have_text('1')
    expect(bob.page).to_have_title('(1) Flack')


def test_a_message_the_counts_had_before_the_page_showed_it_counts_when_it_comes_to_a_hidden_page(people):
    # The order the client cannot choose, played on its counts directly: the
    # server counted messages 11 and 12 of the open channel, the page showed
    # 11 and was read up to it, then went to the background; 12's event comes.
    page = people().page
    counted = page.evaluate("""async () => {
        const { UnreadCounts } = await import('/static/js/unread.js');
        const counts = new UnreadCounts({ me: () => ({ userId: 1 }), onChange: () => {} });
        counts.reset([{ channel_id: 5, last_read_id: 10, unread: 2, newest_id: 12 }]);
        counts.read(5, 11);
        counts.add(5, { id: 12, user_id: 2 });
        counts.add(5, { id: 12, user_id: 2, html: 'its preview' });
        return [counts.count(5), document.title];
    }""")
    assert counted == [1, '(1) Flack']


def test_the_servers_error_is_shown_in_words(people):
    susan = people().sign_in('susan')
    susan.page.click('#sign-out')

    susan.page.fill('#nickname', 'susan')
    susan.page.fill('#password', 'not her password')
    susan.page.click('#sign-in-form button[type=submit]')
    expect(susan.page.locator('#sign-in-error')).to_have_text('Wrong password for susan.')

    susan.page.fill('#nickname', 'newcomer')
    susan.page.fill('#password', 'short')
    susan.page.click('#sign-in-form button[type=submit]')
    expect(susan.page.locator('#sign-in-error')).to_contain_text('at least 8 characters')


def test_a_failed_post_is_shown_and_the_text_kept(people):
    susan = people().sign_in('susan')

    susan.say('x' * 70000)

    expect(susan.page.locator('#post-error')).to_contain_text('at most 65536 characters')
    assert len(susan.page.locator('#source').input_value()) == 70000


def test_editing_your_own_message(people):
    susan = people().sign_in('susan')
    david = people().sign_in('david')
    susan.say('typo hree')
    expect(david.message('typo hree')).to_have_count(1)
    expect(david.page.locator('.message .edit')).to_have_count(0)  # not his to edit

    susan.page.click('.message .edit')
    susan.page.fill('.message textarea', 'typo **here**')
    susan.page.click('.message button:text("Save")')

    expect(david.message('typo here').locator('strong')).to_have_text('here')
    expect(david.page.locator('.message')).to_have_count(1)


def test_older_messages_load_when_scrolling_up_each_in_its_place(server, people, tmp_path):
    _post_directly(server, tmp_path, [f'message number {n}' for n in range(80)])
    susan = people().sign_in('susan')
    expect(susan.page.locator('.message')).to_have_count(50)
    # The first message, far above the page shown, is edited; then one more is said.
    writer = authorization(server, 'writer')
    messages = f'{server.url}/api/messages'
    first = requests.get(f'{messages}?limit=1&before=2', timeout=10).json()['messages'][0]
    edit = {'source': 'edited: message number 0'}
    requests.put(f'{messages}/{first["id"]}', json=edit, headers=writer, timeout=10).raise_for_status()
    requests.post(messages, json={'source': 'message number 80'}, headers=writer, timeout=10)
    expect(susan.message('message number 80')).to_have_count(1)
    expect(susan.page.locator('.message')).to_have_count(51)  # not the edited one: it is not in view

    susan.page.locator('#messages').evaluate('list => list.scrollTo(0, 0)')

    expect(susan.page.locator('.message')).to_have_count(81)
    texts = susan.page.locator('.message .body').all_inner_texts()
    assert [int(text.rsplit(' ', 1)[1]) for text in texts] == list(range(81))
    assert texts[0].startswith('edited')


def _restart_while_away(person, server, tmp_path):
    """Stop the server under ``person``'s page, post a message meanwhile, start it: they are back."""
    server.stop()
    expect(person.page.locator('#connection')).to_have_text('reconnecting')
    _post_directly(server, tmp_path, ['posted while you were away'])
    server.start()
    expect(person.page.locator('#connection')).to_have_text('connected', timeout=20000)


def test_after_a_server_restart_the_client_shows_what_was_posted_meanwhile(server, people, tmp_path):
    susan = people().sign_in('susan')
    susan.say('before the restart')
    expect(susan.message('before the restart')).to_have_count(1)

    _restart_while_away(susan, server, tmp_path)
    expect(susan.message('posted while you were away')).to_have_count(1)
    expect(susan.page.locator('.message')).to_have_count(2)


def test_a_catch_up_the_busy_server_answers_503_is_tried_again_when_it_says(server, people, tmp_path):
    susan = people().sign_in('susan')
    susan.say('before the restart')
    expect(susan.message('before the restart')).to_have_count(1)
    refused = []

    def busy_once(route):
        # What a web process answers when a reconnect storm keeps every
        # database connection busy (flack.api.errors).
        if not refused:
            refused.append(route.request.url)
            route.fulfill(status=503, headers={'Retry-After': '1'}, json={'error': 'service unavailable'})
        else:
            route.fallback()

    susan.page.route('**/api/messages?updated_since=*', busy_once)
    _restart_while_away(susan, server, tmp_path)
    expect(susan.message('posted while you were away')).to_have_count(1)
    assert len(refused) == 1


def test_a_connection_the_busy_server_refuses_is_tried_again(people):
    susan = people().sign_in('susan')
    refused = []

    def refuse_once(websocket):
        # Socket.IO's answer when a web process cannot check the token in time
        # (flack.realtime.events): the client's connect is refused.
        to_server = websocket.connect_to_server()

        def from_server(message):
            if not refused and isinstance(message, str) and message.startswith('40'):
                refused.append(message)
                websocket.send('44{"message":"service unavailable","data":{"error":"service unavailable"}}')
            else:
                websocket.send(message)

        to_server.on_message(from_server)
        websocket.on_message(to_server.send)

    # Routing takes effect on the websockets of the next page load.
    susan.page.route_web_socket(lambda url: '/socket.io/' in url, refuse_once)
    susan.page.reload()

    expect(susan.page.locator('#connection')).to_have_text('connected', timeout=30000)
    assert len(refused) == 1


def test_the_page_loads_with_no_console_error_and_no_failed_request(people):
    visitor = people()
    expect(visitor.page.locator('#sign-in-form')).to_be_visible()
    visitor.sign_in('susan')
    visitor.page.reload()
    expect(visitor.page.locator('#connection')).to_have_text('connected')

    assert visitor.console_errors == []
    assert visitor.failed_requests == []


def _post_directly(server, tmp_path, sources):
    """Store messages straight into the server's database, as another process would."""
    app = create_app({**server.environ, 'FLACK_ENV': 'testing', 'LOG_LEVEL': 'WARNING'})
    with app.app_context():
        author = db.session.scalar(db.select(User).where(User.nickname == 'writer'))
        if author is None:
            author = User(nickname='writer')
            author.set_password('correct horse')
            db.session.add(author)
            db.session.commit()
        for source in sources:
            post_message(author, source)
        db.engine.dispose()


def test_the_page_shows_the_open_channel_only_though_its_user_hears_their_other_channels(server, people):
    susan = people().sign_in('susan')
    headers = authorization(server, 'susan')
    channel = requests.post(
        f'{server.url}/api/channels', json={'name': 'random'}, headers=headers, timeout=10
    )
    url = f'{server.url}/api/channels/{channel.json()["id"]}/messages'

    requests.post(url, json={'source': 'said in random'}, headers=headers, timeout=10).raise_for_status()
    susan.say('said in general')

    expect(susan.message('said in general')).to_have_count(1)
    time.sleep(0.5)  # the other channel's event came first: time for it to be (wrongly) shown
    expect(susan.message('said in random')).to_have_count(0)
    expect(susan.unread(susan.channel('random'))).to_have_count(0)  # her own message: nothing unread

    susan.open_channel(susan.channel('random'), '# random')
    expect(susan.message('said in random')).to_have_count(1)
    expect(susan.message('said in general')).to_have_count(0)


def test_three_people_channels_with_unread_counts_and_a_conversation_the_third_never_sees(people, tmp_path):
    alice = people().sign_in('alice')
    bob = people().sign_in('bob')
    carol = people().sign_in('carol')
    carol_heard = carol.heard()
    carol.page.reload()  # her frames recorded from the connection on
    expect(carol.page.locator('#connection')).to_have_text('connected')
    carol.say('morning, all')
    bob.say('morning! **coffee** first')
    expect(alice.message('coffee first')).to_have_count(1)

    alice.create_channel('plans')
    bob.join('plans')
    expect(bob.page.locator('#channel-title')).to_have_text('# plans')
    bob.open_channel(bob.channel('general'), '# general')

    alice.say('first plan')
    alice.say('second plan')
    expect(alice.message('second plan')).to_have_count(1)
    expect(bob.unread(bob.channel('plans'))).to_have_text('2')
    expect(bob.page).to_have_title('(2) Flack')
    expect(carol.channel('plans')).to_have_count(0)  # not hers: under More channels
    expect(carol.page).to_have_title('Flack')

    plans = bob.channel('plans').get_attribute('data-channel-id')
    with bob.page.expect_response(lambda response: response.url.endswith(f'/channels/{plans}/read')):
        bob.open_channel(bob.channel('plans'), '# plans')
    expect(bob.message('second plan')).to_have_count(1)
    expect(bob.unread(bob.channel('plans'))).to_have_count(0)
    expect(bob.page).to_have_title('Flack')
    bob.page.reload()  # what he read is kept by the server
    expect(bob.channel('plans')).to_have_count(1)
    expect(bob.unread(bob.channel('plans'))).to_have_count(0)
    alice.say('a third plan')
    expect(bob.unread(bob.channel('plans'))).to_have_text('1')

    alice.person('bob').locator('.talk').click()
    expect(alice.page.locator('#channel-title')).to_have_text('bob')
    alice.say('just between us')
    expect(bob.unread(bob.conversation('alice'))).to_have_text('1')
    expect(bob.page).to_have_title('(2) Flack')  # every channel's and conversation's
    if os.environ.get('FLACK_UPDATE_SCREENSHOT') == '1':
        bob.page.screenshot(path=str(README_SCREENSHOT))
    bob.open_channel(bob.conversation('alice'), 'alice')
    expect(bob.message('just between us')).to_have_count(1)
    expect(bob.page).to_have_title('(1) Flack')
    bob.say('agreed, quietly')
    expect(alice.message('agreed, quietly')).to_have_count(1)

    alice.page.screenshot(path=str(tmp_path / 'alice.png'))
    expect(carol.page.locator('#conversation-list .channel')).to_have_count(0)
    expect(carol.page).to_have_title('Flack')
    heard = ''.join(carol_heard)
    assert 'first plan' not in heard and 'just between us' not in heard and 'agreed, quietly' not in heard
    assert '"direct": true' not in heard and '"direct":true' not in heard
    for person in (alice, bob, carol):
        assert person.console_errors == [] and person.failed_requests == []


def test_leaving_a_channel_returns_to_general_and_ends_its_messages(people):
    alice = people().sign_in('alice')
    bob = people().sign_in('bob')
    alice.create_channel('plans')
    bob.join('plans')
    expect(bob.page.locator('#channel-title')).to_have_text('# plans')

    bob.page.click('#leave-channel')

    expect(bob.page.locator('#channel-title')).to_have_text('# general')
    expect(bob.channel('plans')).to_have_count(0)
    alice.say('after bob left')
    expect(alice.message('after bob left')).to_have_count(1)
    alice.open_channel(alice.channel('general'), '# general')
    alice.say('a sign of life')
    expect(bob.message('a sign of life')).to_have_count(1)
    expect(bob.page).to_have_title('Flack')  # nothing counted from the channel he left
    expect(bob.page.locator('.other-channels li', has_text='plans')).to_have_count(1)


def test_a_channel_joined_on_another_page_is_listed_once_its_messages_come(people):
    alice = people().sign_in('alice')
    bob_at_work = people().sign_in('bob')
    bob_at_home = people().sign_in('bob')
    alice.create_channel('plans')
    bob_at_work.join('plans')
    expect(bob_at_work.page.locator('#channel-title')).to_have_text('# plans')

    alice.say('for the members of plans')

    expect(bob_at_home.unread(bob_at_home.channel('plans'))).to_have_text('1')
    bob_at_home.open_channel(bob_at_home.channel('plans'), '# plans')
    expect(bob_at_home.message('for the members of plans')).to_have_count(1)


def test_a_taken_channel_name_is_refused_in_words(people):
    alice = people().sign_in('alice')
    alice.submit_channel_name('General')
    expect(alice.page.locator('#new-channel-error')).to_contain_text('taken')
    expect(alice.page.locator('#channel-title')).to_have_text('# general')


def test_an_administrator_suspends_and_reinstates_from_the_people_list(people):
    boss = people().sign_in('boss')
    susan = people().sign_in('susan')
    david = people().sign_in('david')
    expect(david.person('susan').locator('.suspend')).to_have_count(0)  # not his to do
    expect(boss.person('boss').locator('.suspend')).to_have_count(0)

    boss.person('susan').locator('.suspend').click()

    expect(susan.page.locator('#sign-in-error')).to_have_text('Your session has ended. Sign in again.')
    expect(david.person('susan').locator('.state')).to_have_text('suspended')
    susan.page.fill('#nickname', 'susan')
    susan.page.fill('#password', 'correct horse')
    susan.page.click('#sign-in-form button[type=submit]')
    expect(susan.page.locator('#sign-in-error')).to_have_text(
        'This account is suspended by an administrator.'
    )

    boss.person('susan').locator('.reinstate').click()
    expect(david.person('susan').locator('.state')).not_to_have_text('suspended')
    susan.sign_in('susan')


def test_the_phone_layout_folds_the_sidebar_away(people, tmp_path):
    alice = people().sign_in('alice')
    alice.create_channel('plans')
    alice.say('phones welcome')
    phone = people(PHONE).sign_in('bob')

    assert phone.page.evaluate('document.documentElement.scrollWidth') <= PHONE['width']  # nothing sideways
    expect(phone.page.locator('#side')).to_be_hidden()
    expect(phone.page.locator('#source')).to_be_visible()
    alice.open_channel(alice.channel('general'), '# general')
    alice.say('hello from a desktop')
    expect(phone.message('hello from a desktop')).to_be_visible()

    phone.page.click('#menu')
    expect(phone.page.locator('#side')).to_be_visible()
    expect(phone.page.locator('#messages')).to_be_hidden()
    phone.join('plans')

    expect(phone.page.locator('#side')).to_be_hidden()
    expect(phone.page.locator('#channel-title')).to_have_text('# plans')
    expect(phone.message('phones welcome')).to_be_visible()
    assert phone.page.evaluate('document.documentElement.scrollWidth') <= PHONE['width']
    alice.say('news in general')
    expect(phone.page.locator('#menu-unread')).to_have_text('1')  # the folded sidebar's count
    phone.page.screenshot(path=str(tmp_path / 'phone.png'))
    if os.environ.get('FLACK_UPDATE_SCREENSHOT') == '1':
        phone.page.screenshot(path=str(README_PHONE_SCREENSHOT))


def test_deleting_your_own_message_and_an_administrator_deleting_any(people):
    susan = people().sign_in('susan')
    david = people().sign_in('david')
    boss = people().sign_in('boss')
    susan.say('a slip')
    david.say('something rude')
    expect(boss.message('something rude')).to_have_count(1)
    expect(david.message('a slip').locator('xpath=..').locator('.delete')).to_have_count(0)  # not his

    susan.message('a slip').locator('xpath=..').locator('.delete').click()
    boss.message('something rude').locator('xpath=..').locator('.delete').click()

    for person in (susan, david, boss):
        expect(person.message('a slip')).to_have_count(0)
        expect(person.message('something rude')).to_have_count(0)
    expect(susan.page.locator('.message')).to_have_count(0)
