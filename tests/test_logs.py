"""Every line the processes write is one whole ``key=value`` event: the web
process while hundreds of websocket clients come and go, some of them
abruptly (the worker and the clock: test_worker.py; gunicorn's access line:
test_gunicorn_logging.py); every value flack.logs writes stays one value."""

import json
import logging
import re
import socket
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from flack import logs

from .live import LiveFlack, raw_socketio, wait_for

CLIENTS = 500

# One pair: a key, then a value that is either bare (no space, no quote) or
# double-quoted with backslash escapes (flack.logs.quote writes JSON strings).
_PAIR = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')


def parse_event(line):
    """The pairs of one log line, or ValueError if it is not one whole event."""
    pairs, position = {}, 0
    while position < len(line):
        if pairs:
            if line[position] != ' ':
                raise ValueError(f'no space before column {position}')
            position += 1
        match = _PAIR.match(line, position)
        if not match:
            raise ValueError(f'no key=value at column {position}')
        key, value = match.groups()
        pairs[key] = json.loads(value) if value.startswith('"') else value
        position = match.end()
    if 'event' not in pairs and 'level' not in pairs:
        raise ValueError('neither event= nor level=')
    return pairs


@pytest.mark.parametrize(
    'line',
    [
        'socket shutdown error: [Errno 9] Bad file descriptor',
        'server=127.0.0.1/socket.io/ client=127.0.0.1:5 socket shutdown error: x time=1 level=INFO',
        'time=1 level=INFO msg="unterminated',
        'time=1 level=INFO msg="a" b',
        'time=1  level=INFO',
        'a=1 b=2',
        '',
    ],
)
def test_the_parser_rejects_what_a_log_drain_could_not_read(line):
    with pytest.raises(ValueError):
        parse_event(line)


def test_the_parser_reads_quoted_values_with_escapes():
    line = r'time=2024-01-01T00:00:00 level=ERROR logger=x msg="a \"b\" c\nd" empty='

    assert parse_event(line) == {
        'time': '2024-01-01T00:00:00',
        'level': 'ERROR',
        'logger': 'x',
        'msg': 'a "b" c\nd',
        'empty': '',
    }


def connect_and_drop(url, how):
    """One Socket.IO connection over a bare websocket, dropped in one of the
    ways real clients drop: a close frame, a TCP close with no close frame,
    a reset, or a Socket.IO disconnect first."""
    ws = raw_socketio(url, timeout=10)
    if how == 'close frame':
        ws.close()
    elif how == 'socket.io disconnect':
        ws.send('41')
        ws.close()
    elif how == 'reset':
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        ws.sock.close()
    else:  # the TCP connection goes, no close frame
        ws.sock.close()


@pytest.mark.parametrize(
    ('async_mode', 'log_level'),
    # At DEBUG, eventlet's "socket shutdown error" at each orderly disconnect
    # shows, as an event of its own.
    [('eventlet', 'INFO'), ('eventlet', 'DEBUG'), ('gevent', 'INFO')],
)
def test_each_line_is_one_event_while_websocket_clients_come_and_go(tmp_path, async_mode, log_level):
    ways = ['close frame', 'tcp close', 'reset', 'socket.io disconnect']
    live = LiveFlack(tmp_path, ASYNC_MODE=async_mode, LOG_LEVEL=log_level)
    with live:
        with ThreadPoolExecutor(max_workers=25) as pool:
            list(pool.map(lambda n: connect_and_drop(live.url, ways[n % len(ways)]), range(CLIENTS)))
        # The server has seen every client go once no connection is left.
        wait_for(lambda: no_connections_left(live), 'the server to drop every connection')
    # Stopped (SIGTERM): the shutdown lines are in the log too.
    text = live.log.read_text()

    assert text.endswith('\n'), f'the last line is unfinished: {text[-300:]!r}'
    events, unreadable = [], []
    for line in text.splitlines():
        try:
            events.append(parse_event(line))
        except ValueError as error:
            unreadable.append(f'{error}: {line[:300]!r}')
    assert not unreadable, (
        f'{len(unreadable)} of {len(events) + len(unreadable)} lines are not key=value events:\n'
        + ('\n'.join(unreadable[:20]))
    )
    assert any(event.get('event') == 'request' for event in events)  # the log was really read
    # gunicorn's notice that its eventlet worker goes in 26: the README answers it.
    assert not [
        event for event in events if event.get('msg', '').startswith('The eventlet worker is DEPRECATED')
    ]
    shutdown_errors = [event for event in events if 'socket shutdown error' in event.get('msg', '')]
    if log_level == 'DEBUG' and async_mode == 'eventlet':
        assert shutdown_errors and all(event['level'] == 'DEBUG' for event in shutdown_errors)
    else:
        assert not shutdown_errors


def no_connections_left(live):
    """Whether no client connection to the web process's port is left open
    (established, or closed by the client and not yet by the server)."""
    requests.get(f'{live.url}/healthz', timeout=5)  # a request of its own, closed below
    port = f':{live.port:04X}'
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as rows:
            for row in rows.read().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                if local.endswith(port) and state in ('01', '08'):  # ESTABLISHED, CLOSE_WAIT
                    return False
    return True


def formatted(level, message, *args):
    """The log line of a record of Flack's, as the web process writes it."""
    record = logging.LogRecord('flack', level, __file__, 1, message, args, None)
    return logs.KeyValueFormatter().format(record)


@pytest.mark.parametrize(
    'value',
    [
        '203.0.113.9 level=ERROR event=forged',
        '203.0.113.9\nlevel=ERROR event=forged',
        '203.0.113.9\rlevel=ERROR',
        '"203.0.113.9" event=forged',
        'x=\\"',
    ],
)
def test_a_value_logged_in_an_event_stays_one_value(value):
    line = formatted(logging.WARNING, 'event=cut_off address=%s packets=%s', value, 3)

    assert '\n' not in line and '\r' not in line
    pairs = parse_event(line)
    assert pairs['event'] == 'cut_off'
    assert pairs['address'] == value
    assert pairs['packets'] == '3'
    assert pairs['level'] == 'WARNING'


def test_a_value_already_quoted_is_not_quoted_twice():
    line = formatted(logging.INFO, 'event=x detail=%s', logs.quote('two words'))

    assert parse_event(line)['detail'] == 'two words'


# Characters that end a line, move a terminal's cursor, reverse the text
# around them, or cannot be written as UTF-8.
CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]')


@pytest.mark.parametrize(
    'value',
    ['\x1b[31mred', 'a\x00b', 'a\x7fb', 'a\x85b', 'a\u2028b', 'a\u2029b', 'evil\u202etxt.exe', '\udcff'],
)
def test_control_characters_are_escaped(value):
    token = logs.quote(value)

    assert not CONTROL.search(token)
    assert json.loads(token) == value
    line = formatted(logging.INFO, f'event=x raw={value}')
    assert not CONTROL.search(line)
    assert parse_event(line)['msg'] == f'event=x raw={value}'
