"""A Socket.IO connection that abuses the protocol is cut off, cheaply: the
Procfile's web process, real clients on loopback (bare websockets speaking
Engine.IO 4 / Socket.IO 5 text frames, and python-socketio), no mocks."""

import json
import re
import threading
import time

import pytest
import requests
import socketio
import websocket

from ..live import Listener, LiveFlack, wait_for

CUT_OFF = 'event=socketio_cut_off'

MALFORMED = {
    'not json': '42{bad',
    'payload not a list': '42{"not": "a list"}',
    'event name not a string': '42[1, 2]',
    'empty event': '42[]',
    'an event id too long': '42' + '1' * 150 + '["ping_user"]',
    'an ack id too long': '43' + '1' * 150 + '[]',
    'an ack without an id': '43[]',
    'an ack nobody asked for': '437["ok"]',
    'an unknown packet type': '49',
    'a packet type that is not a digit': '4x',
    'a binary attachment': '451-["ping_user",{"_placeholder":true,"num":0}]',
    'a namespace not served': '42/admin,["ping_user"]',
    'an error packet from a client': '44{"message":"x"}',
}


@pytest.fixture(scope='module')
def live(tmp_path_factory):
    # The default event budget (20 per second), rate limits on as in production.
    # Behind one proxy, as on the platform: the warning names the router's address.
    with LiveFlack(tmp_path_factory.mktemp('abuse'), RATELIMIT_ENABLED=1, TRUSTED_PROXY_HOPS=1) as live:
        yield live


@pytest.fixture(scope='module')
def token(live):
    password = 'correct horse battery'
    requests.post(f'{live.url}/api/users', json={'nickname': 'susan', 'password': password}, timeout=10)
    return requests.post(f'{live.url}/api/tokens', auth=('susan', password), timeout=10).json()['token']


def raw_connection(live, join=True, headers=None):
    """A bare websocket through the Engine.IO handshake and, if ``join``, the Socket.IO connect."""
    ws = websocket.create_connection(
        f'{live.url.replace("http", "ws", 1)}/socket.io/?EIO=4&transport=websocket', header=headers
    )
    assert ws.recv().startswith('0{')  # Engine.IO open
    if join:
        ws.send('40')
        assert ws.recv().startswith('40{')
    return ws


def frames_until_closed(ws, patience=1.0, resets=None):
    """The text frames the server sends until it closes the connection; fails after ``patience`` s.

    A connection reset ends it too, and is added to ``resets`` if given.
    """
    deadline, frames = time.monotonic() + patience, []
    while True:
        ws.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            frame = ws.recv()
        except websocket.WebSocketTimeoutException:
            raise AssertionError(f'still open after {patience} s; heard {frames[-5:]}') from None
        except ConnectionResetError:
            if resets is not None:
                resets.append(True)
            return frames
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return frames
        if not frame:  # the close frame
            return frames
        frames.append(frame)


def cut_off_lines(live):
    return [line for line in live.log.read_text().splitlines() if CUT_OFF in line]


def problem_lines(live):
    """Lines a flood must not cause: errors and tracebacks."""
    text = live.log.read_text().splitlines()
    return [line for line in text if 'level=ERROR' in line or 'Traceback' in line or 'exception=' in line]


def warning_lines(live):
    return [line for line in live.log.read_text().splitlines() if 'level=WARNING' in line]


def error_event(frames):
    """The body of the ``error`` event among ``frames``."""
    events = [json.loads(frame[2:]) for frame in frames if frame.startswith('42[')]
    (body,) = [arguments[1] for arguments in events if arguments[0] == 'error']
    return body


@pytest.mark.parametrize('packet', MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_packet_closes_the_connection_with_one_warning(live, packet):
    warnings_before, cut_offs_before = len(warning_lines(live)), len(cut_off_lines(live))
    ws = raw_connection(live)

    ws.send(packet)
    frames = frames_until_closed(ws)

    assert error_event(frames) == {
        'error': 'bad request',
        'message': 'A packet no Socket.IO client sends; this connection is closed.',
    }
    assert frames[-2:] == ['41', '1']  # a Socket.IO disconnect, then Engine.IO's close
    wait_for(lambda: len(cut_off_lines(live)) == cut_offs_before + 1, 'the warning', patience=5)
    (line,) = cut_off_lines(live)[cut_offs_before:]
    assert (
        'level=WARNING' in line
        and 'reason=malformed' in line
        and re.search(r'address=(::ffff:)?127\.0\.0\.1 ', line)
    )
    assert len(warning_lines(live)) == warnings_before + 1
    assert not problem_lines(live)


def test_the_warning_names_the_address_the_router_saw(live):
    cut_offs_before = len(cut_off_lines(live))
    # The router appends the address it saw; what a client wrote before it is not trusted.
    ws = raw_connection(live, headers=['X-Forwarded-For: 198.51.100.7, 203.0.113.9'])

    ws.send('42{bad')
    frames_until_closed(ws)

    wait_for(lambda: len(cut_off_lines(live)) == cut_offs_before + 1, 'the warning', patience=5)
    (line,) = cut_off_lines(live)[cut_offs_before:]
    assert ' address=203.0.113.9 ' in line


def test_a_binary_frame_or_an_event_before_connecting_closes_the_connection(live):
    cut_offs_before = len(cut_off_lines(live))
    binary = raw_connection(live)
    binary.send_binary(b'\x00\x01')
    unjoined = raw_connection(live, join=False)
    unjoined.send('42["ping_user"]')

    frames_until_closed(binary)
    assert frames_until_closed(unjoined) == ['1']  # not joined: only Engine.IO's close

    wait_for(lambda: len(cut_off_lines(live)) == cut_offs_before + 2, 'the warnings', patience=5)
    assert not problem_lines(live)


def test_malformed_packets_after_the_first_are_dropped_unlogged(live):
    cut_offs_before = len(cut_off_lines(live))
    ws = raw_connection(live)

    try:
        for _ in range(500):
            ws.send('42{bad')
    except (websocket.WebSocketException, ConnectionError):
        pass  # closed while sending
    frames_until_closed(ws)

    time.sleep(0.5)  # what was on the wire has been read by now
    assert len(cut_off_lines(live)) == cut_offs_before + 1
    assert not problem_lines(live)


def flood(live, results):
    """One connection sending ``ping_user`` with acks as fast as it can, never reading."""
    ws = raw_connection(live)
    started = time.monotonic()
    try:
        for n in range(5000):
            ws.send(f'42{n}["ping_user"]')
    except (websocket.WebSocketException, ConnectionError):
        pass  # cut off while sending
    resets = []
    frames = frames_until_closed(ws, resets=resets)
    results.append((time.monotonic() - started, frames, bool(resets)))


def test_a_flooding_connection_is_closed_while_others_are_served(live, token):
    listener = Listener(live, transports=['websocket'])
    cut_offs_before = len(cut_off_lines(live))
    results = []
    flooders = [threading.Thread(target=flood, args=(live, results)) for _ in range(3)]
    try:
        for flooder in flooders:
            flooder.start()
        # Meanwhile, another client's post reaches the listener, and /healthz answers.
        posted = requests.post(
            f'{live.url}/api/messages',
            json={'source': 'still here'},
            headers={'Authorization': f'Bearer {token}'},
            timeout=10,
        )
        assert posted.status_code == 201
        assert requests.get(f'{live.url}/healthz', timeout=10).status_code == 200
        for flooder in flooders:
            flooder.join()
        wait_for(lambda: 'still here' in [m['source'] for m in listener.messages()], 'the post')
    finally:
        listener.close()

    assert len(results) == 3
    for elapsed, frames, reset in results:
        assert elapsed < 1, f'a flooder was cut off only after {elapsed:.1f} s'
        acks = [frame for frame in frames if frame.startswith('43')]
        # Its budget (20) answered, as many 429s, then cut off.
        assert len(acks) <= 40
        if reset:
            # The server closed with the flooder's own frames still unread,
            # and TCP answers that with a reset, which may take the last
            # frames with it: the log lines below still show the cut-off.
            continue
        assert error_event(frames)['error'] == 'too many requests'
        # The Socket.IO disconnect; Engine.IO's close ('1') may lose the race
        # with the websocket's own close frame.
        assert frames[-1] == '41' or frames[-2:] == ['41', '1']
    wait_for(lambda: len(cut_off_lines(live)) == cut_offs_before + 3, 'the warnings', patience=5)
    assert all('reason=flood' in line for line in cut_off_lines(live)[cut_offs_before:])
    assert not problem_lines(live)


def test_a_python_socketio_client_hears_why_it_is_cut_off(live):
    heard, gone = [], threading.Event()
    client = socketio.Client(reconnection=False)
    client.on('error', heard.append)
    client.on('disconnect', lambda reason=None: (heard.append(reason), gone.set()))
    client.connect(live.url, transports=['websocket'], wait_timeout=10)

    for _ in range(200):
        client.emit('ping_user')
        if gone.is_set():
            break

    assert gone.wait(1)
    assert heard == [
        {
            'error': 'too many requests',
            'message': 'Too many events in a short time; this connection is closed.',
        },
        client.reason.SERVER_DISCONNECT,
    ]


def test_a_client_within_its_budget_is_served_and_stays(live, token):
    client = socketio.Client(reconnection=False)
    client.connect(live.url, transports=['websocket'], wait_timeout=10)
    try:
        # Twenty a second is the budget; a few over are answered 429, not cut off.
        answers = [client.call('ping_user', token, timeout=10) for _ in range(25)]
        assert answers[:20] == [{'status': 'ok'}] * 20
        assert all(answer['error'] == 'too many requests' for answer in answers[20:])
        assert client.connected
    finally:
        client.disconnect()
