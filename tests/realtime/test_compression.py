"""Websocket compression as WEBSOCKET_COMPRESSION chooses it: the Procfile's
web process under eventlet and gevent, and bare websockets that offer
permessage-deflate exactly as Chromium does, inflating what they receive
with the window the server answered (flack.realtime.compression)."""

import base64
import itertools
import json
import os
import socket
import struct
import zlib

import pytest

from flack.config import load_settings
from flack.realtime.compression import rewritten_offer

from ..live import LiveFlack, descendants
from ..test_scaled import Api

# What Chromium (and Node's ws, socket.io-client's default) sends.
CHROMIUM_OFFER = 'permessage-deflate; client_max_window_bits'
# A source that repeats itself 3 KiB apart: a compressor with a window of
# more than 2 KiB refers back to the first copy, one of 2 KiB cannot.
SPREAD_OUT = base64.b64encode(os.urandom(2300)).decode()
CONNECTIONS = 150
POSTERS = itertools.count()


class DeflateWebSocket:
    """A bare websocket that offers permessage-deflate and reads what the
    server sends, inflating compressed frames with the negotiated window."""

    def __init__(self, url, offer=CHROMIUM_OFFER):
        host, port = url.removeprefix('http://').split(':')
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n'
                f'Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n'
                f'Sec-WebSocket-Extensions: {offer}\r\n\r\n'
            ).encode()
        )
        self.buffer = b''
        while b'\r\n\r\n' not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b'\r\n\r\n', 1)
        status, *lines = head.decode().split('\r\n')
        assert ' 101 ' in status, head
        headers = dict(line.split(': ', 1) for line in lines)
        self.extension = {k.lower(): v for k, v in headers.items()}.get('sec-websocket-extensions')
        self.parameters = dict(
            (part.strip().partition('=')[::2]) for part in (self.extension or '').split(';')[1:]
        )
        bits = self.parameters.get('server_max_window_bits') or zlib.MAX_WBITS
        self.inflater = zlib.decompressobj(-int(bits))
        self.compressed_frames = 0

    def _recv(self):
        data = self.sock.recv(65536)
        assert data, 'the server closed the connection'
        return data

    def _take(self, count):
        while len(self.buffer) < count:
            self.buffer += self._recv()
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def receive(self):
        """The next text frame's text (one frame per message from both servers)."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack('!H', self._take(2))
        elif length == 127:
            (length,) = struct.unpack('!Q', self._take(8))
        payload = self._take(length)
        if first & 0x40:  # RSV1: compressed
            self.compressed_frames += 1
            payload = self.inflater.decompress(payload + b'\x00\x00\xff\xff')
        return payload.decode()

    def send(self, text):
        """A masked, uncompressed text frame (a client may always send those)."""
        payload, mask = text.encode(), os.urandom(4)
        assert len(payload) < 126
        masked = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def join(self):
        assert self.receive().startswith('0{')  # Engine.IO open
        self.send('40')
        assert self.receive().startswith('40{')
        return self

    def next_message(self):
        """The message of the next ``updated_model`` event about one."""
        while True:
            text = self.receive()
            if text.startswith('42'):
                name, event = json.loads(text[2:])
                if name == 'updated_model' and event['class'] == 'Message':
                    return event['model']

    def close(self):
        self.sock.close()


@pytest.fixture(scope='module')
def flack(tmp_path_factory):
    """``flack(async_mode, compression)``: the Procfile's web process with
    those settings, started on first use and shared by the module's tests."""
    started = {}

    def get(async_mode, compression):
        if (async_mode, compression) not in started:
            live = LiveFlack(
                tmp_path_factory.mktemp(f'{async_mode}-{compression}'),
                ASYNC_MODE=async_mode,
                WEBSOCKET_COMPRESSION=compression,
                LINK_PREVIEWS=0,
            )
            started[(async_mode, compression)] = live.start()
        return started[(async_mode, compression)]

    yield get
    for live in started.values():
        live.stop()


def _post(live, source):
    """``source`` posted by a newcomer, through the REST API."""
    api = Api(live.url)
    _, token = api.new_user(f'poster{next(POSTERS)}')
    api.post(token, source)


@pytest.mark.parametrize(
    'offer, small',
    [
        (CHROMIUM_OFFER, 'permessage-deflate; client_max_window_bits=11; server_max_window_bits=11'),
        ('permessage-deflate', 'permessage-deflate; server_max_window_bits=11'),  # Firefox
        # A smaller window asked for is kept; a larger one is brought down.
        (
            'permessage-deflate; server_max_window_bits=9; client_max_window_bits=15',
            'permessage-deflate; server_max_window_bits=9; client_max_window_bits=11',
        ),
        (
            'x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover',
            'x-webkit-deflate-frame, '
            'permessage-deflate; server_no_context_takeover; server_max_window_bits=11',
        ),
    ],
)
def test_the_offer_asks_for_a_small_window(offer, small):
    assert rewritten_offer(offer, 'small') == small
    assert rewritten_offer(offer, 'full') == offer
    assert rewritten_offer(offer, 'off') is None


def test_small_is_the_default(tmp_path):
    assert load_settings(tmp_path, {'FLACK_ENV': 'testing'})['WEBSOCKET_COMPRESSION'] == 'small'


@pytest.mark.parametrize('async_mode', ['eventlet', 'gevent'])
def test_browsers_get_compression_with_a_small_window(flack, async_mode):
    ws = DeflateWebSocket(flack(async_mode, 'small').url).join()
    assert ws.parameters == {'server_max_window_bits': '11', 'client_max_window_bits': '11'}
    _post(flack(async_mode, 'small'), f'{SPREAD_OUT} and again {SPREAD_OUT}')
    # Inflated with a 2 KiB window: a larger one would have failed here.
    assert ws.next_message()['source'] == f'{SPREAD_OUT} and again {SPREAD_OUT}'
    assert ws.compressed_frames >= 2
    ws.close()


@pytest.mark.parametrize('async_mode', ['eventlet', 'gevent'])
def test_compression_can_be_declined(flack, async_mode):
    ws = DeflateWebSocket(flack(async_mode, 'off').url).join()
    assert ws.extension is None
    _post(flack(async_mode, 'off'), 'plain')
    assert ws.next_message()['source'] == 'plain'
    assert ws.compressed_frames == 0
    ws.close()


@pytest.mark.parametrize('async_mode', ['eventlet', 'gevent'])
def test_compression_can_be_taken_as_offered(flack, async_mode):
    ws = DeflateWebSocket(flack(async_mode, 'full').url).join()
    assert 'server_max_window_bits' not in ws.parameters
    _post(flack(async_mode, 'full'), f'{SPREAD_OUT} and again {SPREAD_OUT}')
    assert ws.next_message()['source'] == f'{SPREAD_OUT} and again {SPREAD_OUT}'
    assert ws.compressed_frames >= 2
    ws.close()


def _resident_kib(live):
    """The resident memory of the web process's gunicorn worker (the Procfile
    execs gunicorn's master, whose one child it is)."""
    (worker,) = descendants(live.process.pid)
    return int(_status(worker)['VmRSS'].split()[0])


def _status(pid):
    with open(f'/proc/{pid}/status') as status:
        return dict(line.rstrip('\n').split(':\t', 1) for line in status)


def _kib_per_connection(live):
    """What each browser-like connection that has received messages adds to the web worker."""
    warm = [DeflateWebSocket(live.url).join() for _ in range(10)]  # first-use allocations
    before = _resident_kib(live)
    sockets = [DeflateWebSocket(live.url).join() for _ in range(CONNECTIONS)]
    _post(live, 'Hello, **everyone**: https://example.com/a/link and some words to compress.')
    for ws in warm + sockets:
        ws.next_message()
    grown = (_resident_kib(live) - before) / CONNECTIONS
    for ws in warm + sockets:
        ws.close()
    return grown


@pytest.mark.parametrize('async_mode', ['eventlet', 'gevent'])
def test_a_compressing_connection_costs_a_fraction_of_zlibs_default(flack, async_mode):
    """zlib's defaults take about 256 KiB of deflate state per connection
    (about 90 KiB of it touched by the first frames); the small window and
    memLevel take about 9 KiB."""
    full = _kib_per_connection(flack(async_mode, 'full'))
    small = _kib_per_connection(flack(async_mode, 'small'))
    assert small < full - 50, (small, full)
