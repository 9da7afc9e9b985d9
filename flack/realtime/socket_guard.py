"""Socket.IO connections that abuse the protocol are cut off, cheaply.

python-socketio decodes every frame a client sends and answers each event in
a green thread of its own. A client that floods (tens of thousands of frames
a second) or sends what no client sends (``42{bad``, a payload that is not a
list, acks or binary attachments Flack never asks for) would cost the
process a green thread, an answer or a logged traceback per frame. Here:

- ``GuardedPacket``, python-socketio's packet class (its documented
  ``serializer`` option), turns every decoding failure and every packet of a
  shape no client sends into ``MalformedPacket``, before any handler runs
  (JSON that merely breaks flack.json_input's bounds is answered instead,
  see ``RejectedPayload``);
- ``SocketGuard`` stands in front of python-socketio as the Engine.IO
  ``message`` handler (Engine.IO's ``on``), counts every packet of each
  connection, and closes the connection at the first malformed packet, or
  once it has sent twice its event budget in one window: up to there the
  excess events are answered 429 by ``flack.realtime.events`` (a client slightly
  too eager is slowed down, not dropped), beyond it answering is the load.

A connection that is cut off first hears why, as an ``error`` event carrying
the same JSON body as an error ack (``{"error", "message"}``, 429 or 400),
then a Socket.IO disconnect (socket.io-client's ``"io server disconnect"``,
after which it does not reconnect by itself) and the Engine.IO close. The
process logs one WARNING line per connection, with the client's address and
no traceback; the packets still on the wire after that are dropped unread.

Memory is bounded whatever the settings, for two more reasons:

- the reader of a connection yields after each packet (``on_message``):
  reading a socket that always has data never yields in eventlet or gevent,
  so the green thread python-socketio starts per event would pile up, each
  waiting to run, for as long as a flood lasts;
- what Engine.IO queues for a client (``BoundedSendQueue``, made by the
  server's ``create_queue``) is bounded at ``SEND_QUEUE_LIMIT`` packets. A
  client that does not read (a flooder collecting no acks, or a reader too
  slow for the broadcasts) fills its TCP buffers, then this queue; past the
  limit the connection is cut off with no last word (it would not be read):
  its queue is emptied and its TCP connection shut. With RATELIMIT_ENABLED=0
  (load tests) the flood cut-off above is off, and this is what stops a
  client that floods and never reads; a load test's clients read.

- under gevent, a websocket's frames are read by simple-websocket's own
  reader green thread into a list the connection then takes them from;
  that reader stops while ``UNREAD_LIMIT`` frames wait
  (``BoundedWebSocket``), so that a flood waits in TCP buffers, not in
  memory. (eventlet's websocket is read by the connection itself.)

Every count lives in the connection's WSGI environ, which python-socketio
drops when the connection goes: nothing grows with the number of
connections that came and went.
"""

import functools
import logging
import socket as sockets
import time

import simple_websocket
from apiflask import HTTPError
from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
from limits import parse
from socketio import packet

from ..api.errors import error_response
from ..json_input import InvalidJSON, NotJSON
from ..logs import quote

log = logging.getLogger(__name__)

# The connection's counters, in its environ (python-socketio keeps one per connection).
_STATE = 'flack.socket_guard'

FLOOD_MESSAGE = 'Too many events in a short time; this connection is closed.'
MALFORMED_MESSAGE = 'A packet no Socket.IO client sends; this connection is closed.'
# Seconds the reader of a cut-off connection waits at each frame it drops.
DROPPED_PAUSE = 0.05
# Packets queued for one client, beyond what its TCP buffers took, at which
# it is cut off. A client that reads never gets near it (the writer sends as
# fast as the client reads); one that has let a thousand go unread (a few
# MB beyond the kernel's buffers) has stopped reading, and reads what it
# missed with ``updated_since`` when it reconnects.
SEND_QUEUE_LIMIT = 1000
# Frames read from a gevent websocket and not yet taken by its connection.
UNREAD_LIMIT = 16
# Seconds the reader of a gevent websocket waits for room at a time.
UNREAD_PAUSE = 0.005


class MalformedPacket(ValueError):
    """A packet that no well-behaved Socket.IO client sends."""


# The event a payload that breaks flack.json_input's rules is delivered as:
# no client can name an event so, since that decoder refuses a NUL.
REJECTED_EVENT = '\x00rejected'


class RejectedPayload:
    """Stands for a payload that was valid JSON but broke flack.json_input's
    rules (a NUL or lone surrogate in a string, say): the client is answered
    400 with ``detail`` (``flack.realtime.events``), and stays connected."""

    __slots__ = ('detail',)

    def __init__(self, detail):
        self.detail = detail


class GuardedPacket(packet.Packet):
    """python-socketio's packet, whose decoding fails on input no client sends.

    Payloads are decoded by flack.json_input (the server's ``json`` option).
    What is not JSON at all, or not shaped as a client's packet, raises
    ``MalformedPacket``; JSON that breaks that decoder's bounds arrives as
    a ``RejectedPayload``: a connect is refused, an event is delivered as
    ``REJECTED_EVENT``, with its ack id, so that it is answered. The frame's
    size is bounded by ``max_http_buffer_size``.
    """

    def decode(self, encoded_packet):
        if not isinstance(encoded_packet, str):
            raise MalformedPacket('binary frame')
        try:
            attachments = super().decode(encoded_packet)
        except NotJSON:
            raise MalformedPacket('not JSON') from None
        except InvalidJSON as error:
            attachments = 0
            rejected = RejectedPayload(error.detail())
            self.data = [REJECTED_EVENT, rejected] if self.packet_type == packet.EVENT else rejected
        except (ValueError, TypeError, RecursionError) as error:
            raise MalformedPacket(type(error).__name__) from None
        _check_shape(self)
        return attachments


def _check_shape(pkt):
    """What python-socketio would otherwise fail on, or log a line for, at each packet."""
    kind = pkt.packet_type
    if kind == packet.CONNECT:
        if pkt.data is not None and not isinstance(pkt.data, (dict, RejectedPayload)):
            raise MalformedPacket('connect payload not an object')
    elif kind == packet.EVENT:
        if pkt.namespace not in (None, '/'):
            raise MalformedPacket('event for a namespace Flack does not serve')
        if not (isinstance(pkt.data, list) and pkt.data and isinstance(pkt.data[0], str)):
            raise MalformedPacket('event payload not a list starting with a name')
    elif kind != packet.DISCONNECT:
        # Flack never asks a client for an ack, and takes no binary events.
        raise MalformedPacket(f'unexpected packet type {kind}')


class _Window:
    """A fixed-window counter: constant memory, whatever the rate."""

    __slots__ = ('amount', 'seconds', 'started', 'count')

    def __init__(self, rate):
        self.amount, self.seconds = rate.amount, rate.get_expiry()
        self.started, self.count = time.monotonic(), 0

    def hit(self):
        """Count one and return how many in the current window."""
        now = time.monotonic()
        if now - self.started >= self.seconds:
            self.started, self.count = now, 0
        self.count += 1
        return self.count


class _Connection:
    """What the guard knows of one connection."""

    __slots__ = ('packets', 'answered', 'cut_off')

    def __init__(self, rate):
        self.packets = _Window(rate)  # every packet, counted by the guard
        self.answered = _Window(rate)  # events a handler ran for (flack.realtime.events)
        self.cut_off = False


def _connection(environ, rate):
    state = environ.get(_STATE)
    if state is None:
        state = environ[_STATE] = _Connection(rate)
    return state


@functools.cache
def _parsed(rate):
    return parse(rate)


def over_budget(environ, rate):
    """Whether the event being handled is past the connection's budget (a 429)."""
    return _connection(environ, _parsed(rate)).answered.hit() > _parsed(rate).amount


def client_address(environ):
    """The client's address: the connection's peer, or, behind trusted
    proxies, the one ``flack.security``'s ProxyFix (which wraps the Socket.IO
    endpoint too) has put there from ``X-Forwarded-For``."""
    return environ.get('REMOTE_ADDR', '-')


class BoundedSendQueue:
    """Mixed into the async mode's queue class: Engine.IO's queue of the
    packets a connection has yet to send, bounded at ``limit`` once the guard
    has given it an ``on_overflow``.

    Past the limit, further packets are dropped (the closing ``None`` gets
    through) and ``on_overflow`` is called, once. It must not cut the
    connection off there and then: ``put`` runs in whichever green thread
    emits, in the middle of a broadcast or of a handler.
    """

    limit = SEND_QUEUE_LIMIT
    on_overflow = None
    overflowed = False
    empty = None  # the async mode's queue.Empty

    def put(self, item, *args, **kwargs):
        if self.overflowed and item is not None:
            return
        super().put(item, *args, **kwargs)
        if self.on_overflow is not None and item is not None and self.qsize() > self.limit:
            self.overflowed = True
            self.on_overflow()

    def drop_all(self):
        """Empty the queue (what it held is freed), keeping ``join()`` consistent."""
        dropped = 0
        while True:
            try:
                self.get_nowait()
            except self.empty:
                return dropped
            self.task_done()
            dropped += 1


def _abort_transport(environ):
    """Shut the TCP connection of a websocket-only session, waking its reader and writer.

    The environ is the one of the request that opened the session; for a
    websocket that is the websocket's own (gunicorn's socket). A session
    that started on long polling is left to Engine.IO's close: nothing
    waits on a client there.
    """
    if environ.get('HTTP_UPGRADE', '').lower() != 'websocket':
        return
    # gunicorn's socket: 'gunicorn.socket' in its eventlet worker, 'gunicorn.sock' in its gevent one.
    connection = environ.get('gunicorn.socket') or environ.get('gunicorn.sock')
    try:
        connection.shutdown(sockets.SHUT_RDWR)
    except (AttributeError, OSError):  # not gunicorn's, or already closed
        pass


class BoundedWebSocket(simple_websocket.Server):
    """simple-websocket's server (python-engineio's websocket under gevent),
    whose reader waits while ``UNREAD_LIMIT`` frames are left to take.

    Its stock reader reads as long as the socket has data, into an unbounded
    list, and marks the websocket connected again after each read, even
    once it was closed: a flooder was never let go.
    """

    def _handle_events(self):
        handshake_done = self.connected  # the handshake's own answer sets it
        keep_going = super()._handle_events()
        if not handshake_done:
            return keep_going
        while keep_going and self.connected and len(self.input_buffer) >= UNREAD_LIMIT:
            time.sleep(UNREAD_PAUSE)  # gevent's, under gunicorn's gevent worker
        return keep_going and self.connected


def _bounded_websocket_wsgi(base):
    """python-engineio's gevent websocket adapter, on ``BoundedWebSocket``."""

    class BoundedWebSocketWSGI(base):
        def __call__(self, environ, start_response):
            # As python-engineio's SimpleWebSocketWSGI.__call__, but for the class.
            self.ws = BoundedWebSocket(environ, **self.server_args)
            answer = self.app(self)
            if self.ws.mode == 'gunicorn':
                raise StopIteration()
            if self.ws.mode == 'werkzeug':
                raise ConnectionError()
            return answer

    return BoundedWebSocketWSGI


class SocketGuard:
    """The Engine.IO ``message`` handler in front of python-socketio's own."""

    def __init__(self, server, rate, limited):
        self.server = server
        self.rate = _parsed(rate)
        self.limited = limited  # RATELIMIT_ENABLED: the flood cut-off is a rate limit
        self.dispatch = server.eio.handlers['message']
        server.eio.on('message', self.on_message)
        # Every Engine.IO socket's queue comes from the server's create_queue
        # (engineio's BaseSocket); Flask-SocketIO builds the servers itself,
        # so the bounded class goes on this server instance. Other users of
        # create_queue (none in engineio 4) get a queue that is unbounded
        # until given an on_overflow, as at connect below.
        queue_class = type(server.eio.create_queue())
        server.eio.create_queue = type(
            'BoundedSendQueue',
            (BoundedSendQueue, queue_class),
            {'empty': server.eio.get_queue_empty_exception()},
        )
        self.accept = server.eio.handlers['connect']
        server.eio.on('connect', self.on_connect)
        # Under gevent, python-engineio's websocket is simple-websocket's. Its
        # adapters are a dict shared by every server of the mode: copied here.
        websocket = server.eio._async.get('websocket')
        if isinstance(websocket, type) and issubclass(websocket, SimpleWebSocketWSGI):
            server.eio._async = {**server.eio._async, 'websocket': _bounded_websocket_wsgi(websocket)}

    def on_connect(self, eio_sid, environ):
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is not None and isinstance(socket.queue, BoundedSendQueue):
            socket.queue.on_overflow = functools.partial(
                self.server.start_background_task, self.overflowed, eio_sid
            )
        return self.accept(eio_sid, environ)

    def on_message(self, eio_sid, data):
        environ = self.server.environ.get(eio_sid)
        state = environ and _connection(environ, self.rate)
        if state is None or state.cut_off:
            # Cut off (or closed): what is still on the wire is dropped, and
            # slowly. Reading a socket whose buffer is full never yields, so
            # without a pause this green thread would read a flood forever
            # and the writer would never get to close the socket.
            self.server.sleep(DROPPED_PAUSE)
            return
        # Counted in any case, for the log line of a cut-off.
        if state.packets.hit() > 2 * self.rate.amount and self.limited:
            self.cut_off(eio_sid, environ, state, 429, FLOOD_MESSAGE, 'flood')
            return
        try:
            if isinstance(data, str) and data[:1] == '2' and not self._joined(eio_sid):
                raise MalformedPacket('event before connecting')
            self.dispatch(eio_sid, data)
        except MalformedPacket as error:
            self.cut_off(eio_sid, environ, state, 400, MALFORMED_MESSAGE, 'malformed', str(error))
            return
        # Let the handler python-socketio just started run (and everyone
        # else), before this reader takes the next frame: see the docstring.
        self.server.sleep(0)

    def _joined(self, eio_sid):
        return self.server.manager.sid_from_eio_sid(eio_sid, '/') is not None

    def cut_off(self, eio_sid, environ, state, status, message, reason, detail=''):
        """Tell the client why, disconnect it, and close its Engine.IO connection."""
        state.cut_off = True
        log.warning(
            'event=socketio_cut_off reason=%s detail=%s address=%s packets=%s',
            reason,
            quote(detail),
            client_address(environ),
            state.packets.count,
        )
        sid = self.server.manager.sid_from_eio_sid(eio_sid, '/')
        if sid is not None:
            body, _, _ = error_response(HTTPError(status, message=message))
            # ignore_queue: to this process's client, never through Redis.
            self.server.emit('error', body, to=sid, ignore_queue=True)
            self.server.disconnect(sid, ignore_queue=True)
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is not None:
            # Not Engine.IO's disconnect(), which waits for the client to
            # read what is queued: a client that never reads would hold
            # this green thread forever.
            socket.close(wait=False, reason=self.server.eio.reason.SERVER_DISCONNECT)
        # Let the writer send the reason and close the socket now, before
        # this green thread reads the next frame.
        self.server.sleep(0)

    def overflowed(self, eio_sid):
        """A client has let ``SEND_QUEUE_LIMIT`` packets go unread: cut it off, silently."""
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is None or socket.closed:
            return
        environ = self.server.environ.get(eio_sid) or {}
        state = _connection(environ, self.rate)
        state.cut_off = True
        log.warning(
            'event=socketio_cut_off reason=not_reading detail=%s address=%s packets=%s',
            quote(f'{socket.queue.qsize()} packets unsent'),
            client_address(environ),
            state.packets.count,
        )
        # abort: no Engine.IO close packet, nobody would read it. Then the
        # backlog goes, and the writer, woken by the shutdown, ends.
        socket.close(wait=False, abort=True, reason=self.server.eio.reason.SERVER_DISCONNECT)
        socket.queue.drop_all()
        socket.queue.put(None)
        _abort_transport(environ)


def install(server, config):
    """Guard ``server`` (a python-socketio Server that Flask-SocketIO made)."""
    return SocketGuard(server, config['SOCKETIO_EVENTS_PER_CONNECTION'], config['RATELIMIT_ENABLED'])
