"""How much memory websocket compression takes per connection.

Browsers offer ``permessage-deflate`` (RFC 7692) on every websocket, and
the websocket libraries under eventlet and gevent accept the offer as it
comes, with zlib's defaults: a 32 KiB window and ``memLevel`` 8, about
256 KiB of deflate state per connection, kept for as long as it lives
(context takeover). Chat frames are small: an ``updated_model`` event
carrying a message is about 430 bytes, and most of it (keys, links,
nicknames) repeats from one frame to the next, which a 2 KiB window already
holds. ``WEBSOCKET_COMPRESSION`` chooses:

- ``small`` (the default): the server compresses with a 2 KiB window
  (``server_max_window_bits=11``, which a server may always answer with)
  and ``memLevel`` 1, about 9 KiB of state; a client that offers to take a
  smaller window of its own (``client_max_window_bits``, as browsers do)
  is asked for 2 KiB too, so the state that inflates its frames is small
  as well;
- ``full``: the offer as the client makes it;
- ``off``: the offer is declined; frames go out as they are.

Bytes on the wire per 430-byte message frame, over a conversation
(bench/README.md): ``full`` about 50, ``small`` about 72, ``off`` 430.

The offer is rewritten in the request's environ, from which both
libraries read it (``middleware``); the smaller ``memLevel`` goes into the
compressor each library would otherwise make at the first frame it sends,
right after the handshake (``install``).
"""

import functools
import zlib

OFFER = 'HTTP_SEC_WEBSOCKET_EXTENSIONS'
DEFLATE = 'permessage-deflate'
# A 2 KiB window: most of what repeats between chat frames, in 9 KiB of
# zlib state with MEM_LEVEL 1 instead of 256 KiB (zlib's defaults).
WINDOW_BITS = 11
MEM_LEVEL = 1


def _parameters(extension):
    """The name and the ``[name, value or None]`` parameters of one offered extension."""
    name, *parameters = [part.strip() for part in extension.split(';')]
    parsed = []
    for parameter in parameters:
        key, _, value = parameter.partition('=')
        parsed.append([key.strip().lower(), value.strip().strip('"') or None])
    return name.lower(), parsed


def _smaller(value):
    """The window a parameter asks for, brought down to WINDOW_BITS; an
    unreadable value stays as it is (the library refuses it, as before)."""
    if value is None:
        return str(WINDOW_BITS)
    try:
        return str(min(int(value), WINDOW_BITS))
    except ValueError:
        return value


def _small(extension):
    name, parameters = _parameters(extension)
    if name != DEFLATE:
        return extension
    keys = [key for key, _ in parameters]
    for parameter in parameters:
        if parameter[0] in ('server_max_window_bits', 'client_max_window_bits'):
            parameter[1] = _smaller(parameter[1])
    if 'server_max_window_bits' not in keys:
        parameters.append(['server_max_window_bits', str(WINDOW_BITS)])
    return '; '.join([DEFLATE] + [key if value is None else f'{key}={value}' for key, value in parameters])


def rewritten_offer(offer, choice):
    """The ``Sec-WebSocket-Extensions`` offer as the libraries should see it
    for ``choice`` (see the module's doc); None to decline every extension."""
    if choice == 'full':
        return offer
    if choice == 'off':
        return None
    return ', '.join(_small(extension) for extension in offer.split(',') if extension.strip())


def middleware(wsgi_app, choice):
    """``wsgi_app`` with each websocket's compression offer rewritten for ``choice``."""
    if choice == 'full':
        return wsgi_app

    def wsgi_app_with_compression_choice(environ, start_response):
        offer = environ.get(OFFER)
        if offer:
            rewritten = rewritten_offer(offer, choice)
            if rewritten is None:
                del environ[OFFER]
            else:
                environ[OFFER] = rewritten
        return wsgi_app(environ, start_response)

    return wsgi_app_with_compression_choice


def small_compressor(window_bits):
    """A raw deflate compressor as permessage-deflate needs, with MEM_LEVEL."""
    return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits, MEM_LEVEL)


def install(app, engineio_server):
    """Apply ``app``'s WEBSOCKET_COMPRESSION to the websockets of ``engineio_server``."""
    choice = app.config['WEBSOCKET_COMPRESSION']
    app.wsgi_app = middleware(app.wsgi_app, choice)
    websocket = engineio_server._async.get('websocket')
    if choice == 'small' and isinstance(websocket, type):
        # A dict shared by every server of the async mode: copied, as socket_guard does.
        engineio_server._async = {**engineio_server._async, 'websocket': _with_small_compressor(websocket)}


def _with_small_compressor(adapter):
    """python-engineio's websocket adapter class ``adapter``, whose handler
    first gives the websocket a small compressor."""

    class SmallCompressorWebSocketWSGI(adapter):
        def __init__(self, handler, server, **kwargs):
            super().__init__(functools.partial(_handle_with_small_compressor, handler), server, **kwargs)

    return SmallCompressorWebSocketWSGI


def _handle_with_small_compressor(handler, websocket):
    give_small_compressor(websocket)
    return handler(websocket)


def give_small_compressor(websocket):
    """Put a MEM_LEVEL compressor, of the window negotiated, where the library
    would make its own at the first frame, unless it makes one per message
    (``server_no_context_takeover``) or compression was declined.

    ``websocket`` is what python-engineio hands its handler: eventlet's
    websocket, or (gevent) its adapter around simple-websocket's, which
    runs wsproto. Both keep the compressor in a private attribute, checked
    by tests/realtime/test_compression.py.
    """
    deflate = getattr(websocket, 'extensions', {}).get(DEFLATE)  # eventlet's RFC6455WebSocket
    if deflate is not None:
        if not deflate.get('server_no_context_takeover') and websocket._deflate_enc is None:
            websocket._deflate_enc = small_compressor(
                int(deflate.get('server_max_window_bits', zlib.MAX_WBITS))
            )
        return
    connection = getattr(getattr(getattr(websocket, 'ws', None), 'ws', None), 'connection', None)
    for extension in connection._proto.extensions if connection is not None else ():  # wsproto
        if extension.name == DEFLATE and not extension.server_no_context_takeover:
            if extension._compressor is None:
                extension._compressor = small_compressor(int(extension.server_max_window_bits))
