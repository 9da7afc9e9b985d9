"""Fetching web pages for link previews, without letting a message reach inside.

A chat user chooses the URLs fetched here, so every fetch is a request the
server makes on a stranger's behalf: the classic server-side request forgery
(SSRF) set-up, where a link to ``http://169.254.169.254/`` or
``http://localhost:6379/`` turns the worker into the user's proxy. So:

- only ``http`` and ``https`` URLs without user-info are fetched;
- the host name is resolved once, each address is put to a policy
  (``public_addresses_only`` by default), and the connection goes to the very
  address that passed, so a name that changes its answer in between (DNS
  rebinding) cannot send the request elsewhere;
- redirects are followed by hand, and every hop goes through the same checks;
- time and size are bounded, so a hostile server cannot hold a worker or fill
  its memory;
- what a preview takes from a page (title, description) is cut to a few
  hundred characters and rid of what no database stores (NUL, lone
  surrogates, other control characters).

Escaping what a page says is the caller's job (see ``render.render_preview``).
"""

import http.client
import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error

from .. import logs

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {'http': 80, 'https': 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HTML_CONTENT_TYPES = frozenset({'text/html', 'application/xhtml+xml'})
REQUEST_HEADERS = {
    'User-Agent': 'FlackLinkPreview/1.0',
    'Accept': 'text/html,application/xhtml+xml',
    # Each connection carries one request and is closed after it.
    'Connection': 'close',
}
# The whole fetch, redirects included, gets this many times the timeout: the
# timeout alone bounds each wait for data, not a server that drips one byte
# just inside it.
DEADLINE_FACTOR = 2
READ_CHUNK_SIZE = 64 * 1024
# The most of a page's title and description a preview keeps. Real titles
# stay well under 200 characters (search results show about 60), and meta
# descriptions are written for snippets of about 160, social cards up to
# 300; longer text is a page stuffing its head. Whatever is kept is stored
# with the message and sent to every client that loads it (three links to
# megabyte-long titles froze a browser), so it is cut, with an ellipsis.
TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 300
ELLIPSIS = '\u2026'

# Characters kept as they are when the path and query are percent-encoded for
# the request line: the URL delimiters, and '%' so existing escapes survive.
_SAFE_URL_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"
# The well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4
# address a NAT64 gateway forwards to.
_NAT64_PREFIX = ipaddress.IPv6Network('64:ff9b::/96')
# What the network side can raise: urllib3's own errors, the socket's
# (OSError covers timeouts and TLS failures), http.client's, and ValueError
# for input http.client refuses (a control character in a header, say).
_NETWORK_ERRORS = (Urllib3Error, http.client.HTTPException, OSError, ValueError)
# What a page's text must not bring into a message: lone surrogates, which
# no database can encode (a page in UTF-7 can spell them), and the C0 and C1
# control characters (PostgreSQL refuses NUL in text outright, and none has a
# place in a title) but for those str.split() takes for whitespace (\t \n \v
# \f \r, \x1c-\x1f and \x85), which collapsing whitespace makes spaces.
_UNSTORABLE_CHARACTERS = re.compile(r'[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]')


class FetchError(Exception):
    """The page could not be fetched (network error, timeout, bad status, too large, not HTML...).

    ``transient`` says that trying again later may succeed (a timeout, a
    dropped connection, a 5xx or 429 answer), as opposed to a page that
    will never give a preview (refused address, 404, not HTML).
    """

    def __init__(self, message, transient=False):
        super().__init__(message)
        self.transient = transient


class AddressRefused(FetchError):
    """The URL's scheme or the address its host resolves to is not allowed."""


@dataclass(frozen=True)
class Page:
    """A fetched page: its final URL (after redirects), media type and text.

    ``content_type`` is the media type alone, lower-cased (``'text/html'``;
    ``''`` when the server sent none). ``text`` is the body decoded with the
    charset of the Content-Type header, else UTF-8, undecodable bytes
    replaced. ``truncated`` says the body was longer than the fetch's
    ``max_bytes`` and ``text`` holds only its beginning.
    """

    url: str
    content_type: str
    text: str
    truncated: bool = False


def public_addresses_only(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address.

    The default policy: loopback, private, shared (100.64/10), link-local,
    site-local, multicast, reserved, unspecified and documentation ranges are
    all refused. IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64,
    6to4, Teredo) are judged by that IPv4 address too, since that is where
    the packets end up.
    """
    if address.version == 6:
        # IPv4-mapped and NAT64 addresses *are* their IPv4 address as far as
        # the network is concerned, so that alone decides.
        if address.ipv4_mapped is not None:
            return public_addresses_only(address.ipv4_mapped)
        if address in _NAT64_PREFIX:
            return public_addresses_only(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        # 6to4 and Teredo addresses are real IPv6 addresses whose traffic is
        # relayed to an embedded IPv4 address: both must be public.
        embedded = [address.sixtofour, *(address.teredo or ())]
        if any(ipv4 is not None and not public_addresses_only(ipv4) for ipv4 in embedded):
            return False
        if address.is_site_local:
            return False
    # is_global alone has moved between Python versions (and calls 224.0.0.1
    # global), so the ranges that must never be reached are also named.
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def any_address(address: IPAddress) -> bool:
    """Allow every address: the ``LINK_PREVIEWS_ALLOW_PRIVATE`` policy, for development and tests."""
    return True


def fetch_page(
    url: str,
    *,
    address_allowed: Callable[[IPAddress], bool] = public_addresses_only,
    timeout: float = 5.0,
    max_bytes: int = 1_000_000,
    max_redirects: int = 3,
) -> Page:
    """GET ``url`` and return the page, following at most ``max_redirects`` redirects.

    Every hop is checked: http(s) only, no user-info, and the host must
    resolve to an address ``address_allowed`` accepts; the request then goes
    to that address (with the URL's host in the Host header, the SNI and the
    certificate check). ``timeout`` bounds the connect and each read, and the
    whole fetch ends after ``DEADLINE_FACTOR`` times ``timeout``. A body
    longer than ``max_bytes`` is cut there (``Page.truncated``): a preview
    needs only the head of a page, so a long page still gets one.

    Raises ``AddressRefused`` for a URL or address the policy refuses, and
    ``FetchError`` for everything else that goes wrong (network errors,
    timeouts, a status other than 2xx, too many redirects); no urllib3 or
    socket exception escapes.
    """
    deadline = _Deadline(DEADLINE_FACTOR * timeout)
    host = None
    try:
        with deadline:
            for _hop in range(max_redirects + 1):
                host = _hostname(url)
                target = _Target.parse(url)
                address = _allowed_address(target, address_allowed)
                with closing(_connection_to(target, address, deadline.socket_timeout(timeout))) as connection:
                    deadline.watch(connection)
                    # Connect first and look at the clock again: the watch
                    # can only cut off a connection that has a socket.
                    connection.connect()
                    deadline.check()
                    connection.request(
                        'GET',
                        target.request_path,
                        headers={'Host': target.host_header, **REQUEST_HEADERS},
                        preload_content=False,
                    )
                    response = connection.getresponse()
                    location = response.headers.get('Location')
                    # Redirects are followed here rather than by urllib3 so
                    # that the next hop goes through every check above.
                    if response.status in REDIRECT_STATUSES and location:
                        url = urljoin(url, location)
                        continue
                    if not 200 <= response.status < 300:
                        raise FetchError(
                            f'the server answered with status {response.status}',
                            transient=response.status >= 500 or response.status == 429,
                        )
                    return _read_page(url, response, max_bytes, deadline)
            raise FetchError(f'more than {max_redirects} redirects')
    except FetchError as error:
        _log_failure(host, error)
        raise
    except Exception as error:
        # When the deadline cut a connection off mid-read, whatever the read
        # raised is really a timeout.
        if deadline.expired:
            failure = FetchError(f'took longer than {deadline.seconds:g} s', transient=True)
        elif isinstance(error, _NETWORK_ERRORS):
            failure = FetchError(_describe(error), transient=True)
        else:
            raise
        _log_failure(host, failure)
        raise failure from error


def fetch_preview(
    url: str,
    *,
    address_allowed: Callable[[IPAddress], bool] = public_addresses_only,
    timeout: float = 5.0,
) -> tuple[str | None, str | None]:
    """The ``(title, description)`` of the HTML page at ``url``.

    The title is the first ``<title>``'s text and the description the content
    of the first ``<meta name="description">``, each with its whitespace
    collapsed, control characters and lone surrogates removed, cut to
    ``TITLE_MAX_LENGTH`` and ``DESCRIPTION_MAX_LENGTH`` characters (ending
    in ``ELLIPSIS`` when cut), and ``None`` when absent or empty. Both are
    otherwise the page's raw text, character references decoded: the caller
    escapes them. Raises ``FetchError`` (or ``AddressRefused``) when the page
    cannot be fetched or is not HTML.
    """
    page = fetch_page(url, address_allowed=address_allowed, timeout=timeout)
    if page.content_type not in HTML_CONTENT_TYPES:
        error = FetchError('not an HTML page')
        _log_failure(_hostname(page.url), error)
        raise error
    parser = _PreviewParser()
    try:
        parser.feed(page.text)
        parser.close()
    except AssertionError:
        # HTMLParser before Python 3.13 asserts on some malformed markup
        # ('<![foo'); what was collected before that point stands.
        pass
    return parser.title, parser.description


@dataclass(frozen=True)
class _Target:
    """The parts of a URL a request needs, once the URL has passed the checks."""

    scheme: str
    host: str  # ASCII (IDNA) form, without the brackets of an IPv6 literal
    port: int
    request_path: str  # path and query, percent-encoded

    @classmethod
    def parse(cls, url):
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise FetchError('malformed URL') from None
        # file:, ftp:, gopher: and the like reach things no web page should
        # make the server touch (local files, mail and cache servers).
        if parts.scheme not in DEFAULT_PORTS:
            raise AddressRefused(f'the scheme {parts.scheme[:20]!r} is not allowed')
        # User-info is the classic disguise for where a URL really goes
        # (http://trusted.example@inside/), and credentials have no place in
        # a preview; '@' rather than parts.username also catches an empty one.
        if '@' in parts.netloc:
            raise AddressRefused('URLs with user information are not allowed')
        if not parts.hostname:
            raise AddressRefused('the URL has no host')
        try:
            host = parts.hostname.encode('idna').decode('ascii')
        except UnicodeError:
            raise FetchError('malformed host name') from None
        path = quote(parts.path or '/', safe=_SAFE_URL_CHARACTERS)
        if parts.query:
            path += '?' + quote(parts.query, safe=_SAFE_URL_CHARACTERS)
        return cls(parts.scheme, host, DEFAULT_PORTS[parts.scheme] if port is None else port, path)

    @property
    def host_header(self):
        host = f'[{self.host}]' if ':' in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f'{host}:{self.port}'


def _allowed_address(target, address_allowed):
    """The first address ``target.host`` resolves to that the policy allows."""
    # getaddrinfo reads the host the way the operating system does, so the
    # odd spellings of an address (2130706433, 0x7f000001, 0177.0.0.1) come
    # back as the address they mean and meet the policy like any other. It
    # has no timeout of its own: the resolver's configuration bounds it.
    try:
        answers = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):
        raise FetchError('the host name does not resolve') from None
    for *_, socket_address in answers:
        try:
            address = ipaddress.ip_address(socket_address[0])
        except ValueError:
            continue
        if address_allowed(address):
            return address
    raise AddressRefused('the host resolves to no allowed address')


def _connection_to(target, address, timeout):
    """A connection to the checked ``address`` itself, never to the host name again.

    Connecting by name would resolve it a second time, and a name that
    answers a public address to the check and an inside one to the connect
    (DNS rebinding) would walk straight past the policy. The URL's host still
    goes in the Host header, and for https in the SNI and the certificate
    check, so virtual hosts and TLS work as usual. A bare connection rather
    than a pool: nothing retries, follows redirects or reuses it behind the
    checks' back.
    """
    if target.scheme == 'https':
        return HTTPSConnection(
            str(address),
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs='CERT_REQUIRED',
        )
    return HTTPConnection(str(address), target.port, timeout=timeout)


def _read_page(url, response, max_bytes, deadline):
    """The page of a 2xx ``response``, its body read in chunks up to ``max_bytes``."""
    # Reading in bounded chunks, and never past max_bytes + 1, keeps an
    # endless or huge body out of memory; read1 returns what one read from
    # the socket gives, so the deadline is looked at between drips.
    body = bytearray()
    while len(body) <= max_bytes:
        deadline.check()
        chunk = response.read1(min(READ_CHUNK_SIZE, max_bytes + 1 - len(body)))
        if not chunk:
            break
        body += chunk
    media_type, charset = _parse_content_type(response.headers.get('Content-Type', ''))
    return Page(
        url=url,
        content_type=media_type,
        text=_decode(bytes(body[:max_bytes]), charset),
        truncated=len(body) > max_bytes,
    )


def _parse_content_type(value):
    """The lower-cased media type and the charset (or None) of a Content-Type value."""
    media_type, _, parameters = value.partition(';')
    charset = None
    for parameter in parameters.split(';'):
        name, _, parameter_value = parameter.partition('=')
        if name.strip().lower() == 'charset':
            charset = parameter_value.strip().strip('"\'') or None
    return media_type.strip().lower(), charset


def _decode(body, charset):
    try:
        return body.decode(charset or 'utf-8', errors='replace')
    except (LookupError, ValueError):
        # An unknown charset, or a codec that is not a text encoding (base64).
        return body.decode('utf-8', errors='replace')


def _describe(error):
    # http.client's ValueErrors may quote the request path, query string
    # included, so only the kind of error is kept for those.
    if isinstance(error, (Urllib3Error, OSError)):
        return f'{type(error).__name__}: {error}'
    return type(error).__name__


def _hostname(url):
    """The host of ``url`` for the log, or None when it has none."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _log_failure(host, error):
    # The host only: paths and query strings can carry tokens.
    outcome = 'refused' if isinstance(error, AddressRefused) else 'failed'
    logger.info(
        'event=preview_fetch outcome=%s host=%s reason=%s',
        outcome,
        logs.quote(host or '-'),
        logs.quote(error),
    )


class _Deadline:
    """The time limit of a whole fetch, redirects included.

    The socket timeout bounds each wait for data, but a server that drips a
    byte just inside it (into the headers, where no loop of ours runs) would
    hold the fetch for ever. So a timer also shuts the socket of the current
    connection down when the time is up, which ends a blocked read at once.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.expired = False
        self._ends_at = time.monotonic() + seconds
        self._connection = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()

    def check(self):
        if self.expired or time.monotonic() >= self._ends_at:
            self.expired = True
            raise FetchError(f'took longer than {self.seconds:g} s', transient=True)

    def socket_timeout(self, timeout):
        """``timeout``, shortened to what is left before the deadline."""
        self.check()
        return min(timeout, self._ends_at - time.monotonic())

    def watch(self, connection):
        self._connection = connection

    def _expire(self):
        self.expired = True
        sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


class _PreviewParser(HTMLParser):
    """Collects the first ``<title>``'s text and the first meta description."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = None
        self.description = None
        self._seen_title = False
        self._title_parts = None  # a list while inside the first <title>

    def handle_starttag(self, tag, attrs):
        if tag == 'title' and not self._seen_title:
            self._seen_title = True
            self._title_parts = []
        elif tag == 'meta' and self.description is None:
            attributes = dict(attrs)
            if (attributes.get('name') or '').strip().lower() == 'description':
                self.description = _preview_text(attributes.get('content'), DESCRIPTION_MAX_LENGTH)

    def handle_data(self, data):
        if self._title_parts is not None:
            self._title_parts.append(data)

    def handle_endtag(self, tag):
        if tag == 'title':
            self._end_title()

    def close(self):
        super().close()
        self._end_title()  # a page cut short inside its <title>

    def _end_title(self):
        if self._title_parts is not None:
            self.title = _preview_text(''.join(self._title_parts), TITLE_MAX_LENGTH)
            self._title_parts = None


def _preview_text(text, max_length):
    """``text`` fit to store and show, or None when nothing is left.

    Unstorable characters are removed, runs of whitespace made single spaces,
    and a text longer than ``max_length`` is cut to that, ellipsis included.
    """
    text = ' '.join(_UNSTORABLE_CHARACTERS.sub('', text or '').split())
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + ELLIPSIS
    return text or None
