"""The link-preview fetcher, against real HTTP servers on loopback addresses.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a server on
127.0.0.2 stands for "a public host" and one on 127.0.0.1 for "inside": a
policy that allows only 127.0.0.2 plays the part of ``public_addresses_only``
where a test needs some address to be allowed. No traffic leaves the machine.
"""

import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from flack.previews.fetch import (
    DESCRIPTION_MAX_LENGTH,
    ELLIPSIS,
    TITLE_MAX_LENGTH,
    AddressRefused,
    FetchError,
    any_address,
    fetch_page,
    fetch_preview,
    public_addresses_only,
)

from ..live import free_port
from ..pages import HTML, Route, html_page, redirect

OUTSIDE_ADDRESS = ipaddress.ip_address('127.0.0.2')


def only_outside(address):
    """The test stand-in for "a public address": only 127.0.0.2 is allowed."""
    return address == OUTSIDE_ADDRESS


def same_port_on_two_addresses(serve):
    """An outside server on 127.0.0.2 and an inside one on 127.0.0.1, on the same port number."""
    for _attempt in range(10):
        outside = serve('127.0.0.2')
        try:
            return outside, serve('127.0.0.1', outside.server_port)
        except OSError:
            continue
    pytest.skip('no port free on both 127.0.0.1 and 127.0.0.2')


def endless_body(handler, stopping):
    handler.send_response(200)
    handler.send_header('Content-Type', HTML)
    handler.end_headers()
    handler.wfile.write(b'<title>Endless</title>')
    for _chunk in range(2000):  # 128 MB at most, far beyond any max_bytes here
        if stopping.is_set():
            return
        try:
            handler.wfile.write(b'x' * 65536)
        except OSError:
            return


def drip(handler, stopping, head, byte):
    """Send ``head``, then ``byte`` every 50 ms, each well inside the read timeout (bounded to 10 s)."""
    try:
        handler.wfile.write(head)
        for _drop in range(200):
            if stopping.wait(0.05):
                return
            handler.wfile.write(byte)
    except OSError:
        return


def drip_body(handler, stopping):
    drip(handler, stopping, b'HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<title>', b'x')


def drip_headers(handler, stopping):
    drip(handler, stopping, b'HTTP/1.0 200 OK\r\nX-Slow: ', b'x')


# Previews return the page's own text


def test_title_and_description_are_returned_raw_for_the_caller_to_escape(serve):
    server = serve()
    server.routes['/'] = html_page(
        '<html><head><title>&lt;b&gt;Hi&lt;/b&gt; &amp; &quot;x&quot;</title>'
        '<meta name="description" content="1 &lt; 2 &amp; &quot;quoted&quot;"></head></html>'
    )

    title, description = fetch_preview(server.url(), address_allowed=any_address)

    assert title == '<b>Hi</b> & "x"'
    assert description == '1 < 2 & "quoted"'


def test_page_without_title_or_description_gives_none_for_both(serve):
    server = serve()
    server.routes['/'] = html_page('<html><head><title>  </title></head><body><p>Hello</p></body></html>')

    assert fetch_preview(server.url(), address_allowed=any_address) == (None, None)


def test_title_whitespace_is_collapsed_and_meta_name_is_case_insensitive(serve):
    server = serve()
    server.routes['/'] = html_page(
        '<title>\n  Flack\n\t chat  </title><title>Second</title>'
        '<META NAME="Description" CONTENT="  Talk,\n  quickly. ">'
    )

    assert fetch_preview(server.url(), address_allowed=any_address) == ('Flack chat', 'Talk, quickly.')


def test_charset_of_the_content_type_header_is_honoured(serve):
    server = serve()
    server.routes['/'] = html_page(
        '<title>Caf\u00e9 cr\u00e8me</title>', content_type='text/html; charset=ISO-8859-1', charset='latin-1'
    )

    assert fetch_preview(server.url(), address_allowed=any_address) == ('Caf\u00e9 cr\u00e8me', None)


def test_text_is_utf8_when_no_or_an_unknown_charset_is_given(serve):
    server = serve()
    server.routes['/none'] = html_page('<title>Caf\u00e9</title>', content_type='text/html')
    server.routes['/unknown'] = html_page(
        '<title>Caf\u00e9</title>', content_type='text/html; charset=x-nope'
    )

    assert fetch_preview(server.url('/none'), address_allowed=any_address) == ('Caf\u00e9', None)
    assert fetch_preview(server.url('/unknown'), address_allowed=any_address) == ('Caf\u00e9', None)


def test_xhtml_pages_are_previewed(serve):
    server = serve()
    server.routes['/'] = html_page('<title>Strict</title>', content_type='application/xhtml+xml')

    assert fetch_preview(server.url(), address_allowed=any_address) == ('Strict', None)


def test_malformed_markup_keeps_what_was_read_before_it(serve):
    server = serve()
    server.routes['/'] = html_page('<title>Kept</title><![unknown section')

    assert fetch_preview(server.url(), address_allowed=any_address) == ('Kept', None)


# What a page says is made fit to store and show


def test_control_characters_are_removed_and_whitespace_ones_become_spaces(serve):
    server = serve()
    server.routes['/'] = html_page(
        '<title>Null\x00ed \x1b[31mred\x7f\x9b</title>'
        '<meta name="description" content="tab\there,\x0bvertical\x85next\x00">'
    )

    title, description = fetch_preview(server.url(), address_allowed=any_address)

    assert title == 'Nulled [31mred'
    assert description == 'tab here, vertical next'


def test_lone_surrogates_a_page_spells_are_removed(serve):
    server = serve()
    # UTF-7 can encode half a surrogate pair, which no database can store.
    server.routes['/'] = Route(
        headers={'Content-Type': 'text/html; charset=utf-7'},
        body=b'<title>A+2AA-B</title><meta name="description" content="C+3AA-D">',
    )

    assert fetch_preview(server.url(), address_allowed=any_address) == ('AB', 'CD')


def test_long_title_and_description_are_cut_with_an_ellipsis(serve):
    server = serve()
    server.routes['/'] = html_page(
        f'<meta name="description" content="{"d" * 400_000}"><title>{"Long title " * 50_000}</title>'
    )

    title, description = fetch_preview(server.url(), address_allowed=any_address)

    assert title.endswith(ELLIPSIS) and len(title) <= TITLE_MAX_LENGTH
    assert ('Long title ' * 50).startswith(title[:-1]) and len(title) > TITLE_MAX_LENGTH - 10
    assert description == 'd' * (DESCRIPTION_MAX_LENGTH - 1) + ELLIPSIS


def test_title_and_description_at_their_limits_are_kept_whole(serve):
    server = serve()
    title, description = 't' * TITLE_MAX_LENGTH, 'd' * DESCRIPTION_MAX_LENGTH
    server.routes['/'] = html_page(f'<title>{title}</title><meta name="description" content="{description}">')

    assert fetch_preview(server.url(), address_allowed=any_address) == (title, description)


def test_request_goes_with_the_url_host_and_preview_headers(serve):
    server = serve()
    server.routes['/page?q=1'] = html_page('<title>Hi</title>')

    page = fetch_page(server.url('/page?q=1', host='localhost'), address_allowed=any_address)

    assert page.url == server.url('/page?q=1', host='localhost')
    assert page.content_type == 'text/html'
    [request] = server.requests
    assert request.path == '/page?q=1'
    assert request.headers['Host'] == f'localhost:{server.server_port}'
    assert request.headers['User-Agent'] == 'FlackLinkPreview/1.0'
    assert request.headers['Accept'] == 'text/html,application/xhtml+xml'


def test_ipv6_literal_hosts_are_fetched_when_allowed(serve):
    server = serve('::1')
    server.routes['/'] = html_page('<title>Six</title>')

    assert fetch_preview(server.url(), address_allowed=any_address) == ('Six', None)
    assert server.requests[0].headers['Host'] == f'[::1]:{server.server_port}'


# The default policy refuses inside addresses before connecting


def test_private_address_is_refused_and_receives_no_request(serve):
    server = serve()

    with pytest.raises(AddressRefused):
        fetch_preview(server.url())

    assert server.connections == 0
    assert server.requests == []


def test_name_resolving_to_loopback_is_refused(serve):
    server = serve()

    with pytest.raises(AddressRefused):
        fetch_page(server.url(host='localhost'))

    assert server.connections == 0


@pytest.mark.parametrize('spelling', ['2130706433', '0x7f000001', '0177.0.0.1', '127.1'])
def test_numeric_spellings_of_loopback_are_refused(serve, spelling):
    server = serve()

    with pytest.raises(AddressRefused):
        fetch_page(server.url(host=spelling))

    assert server.connections == 0


def test_ipv6_loopback_is_refused(serve):
    server = serve('::1')

    with pytest.raises(AddressRefused):
        fetch_page(server.url())

    assert server.connections == 0


def test_ipv4_mapped_loopback_is_refused(serve):
    server = serve()

    with pytest.raises(AddressRefused):
        fetch_page(server.url(host='[::ffff:127.0.0.1]'))

    assert server.connections == 0


def test_redirect_to_an_inside_address_is_refused_before_connecting(serve):
    outside, inside = serve('127.0.0.2'), serve('127.0.0.1')
    inside.routes['/'] = html_page('<title>Secret</title>')
    outside.routes['/'] = redirect(inside.url())

    with pytest.raises(AddressRefused):
        fetch_page(outside.url(), address_allowed=only_outside)

    assert len(outside.requests) == 1
    assert inside.connections == 0


def test_the_connection_goes_to_the_checked_address_even_if_the_name_rebinds(serve, monkeypatch):
    outside, inside = same_port_on_two_addresses(serve)
    outside.routes['/'] = html_page('<title>Outside</title>')
    inside.routes['/'] = html_page('<title>Inside</title>')
    # A name whose first answer is allowed and every later one points inside:
    # resolving it again to connect would reach the inside server.
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(['127.0.0.2'])

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host == 'rebinding.test':
            host = next(answers, '127.0.0.1')
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, 'getaddrinfo', rebinding_getaddrinfo)

    title, _ = fetch_preview(outside.url(host='rebinding.test'), address_allowed=only_outside)

    assert title == 'Outside'
    assert outside.requests[0].headers['Host'] == f'rebinding.test:{outside.server_port}'
    assert inside.connections == 0


@pytest.mark.parametrize(
    ('address', 'public'),
    [
        ('8.8.8.8', True),
        ('2606:4700:4700::1111', True),
        ('::ffff:8.8.8.8', True),
        ('64:ff9b::808:808', True),
        ('127.0.0.1', False),
        ('10.0.0.1', False),
        ('172.16.0.1', False),
        ('192.168.1.1', False),
        ('169.254.169.254', False),
        ('100.64.0.1', False),
        ('0.0.0.0', False),
        ('224.0.0.1', False),
        ('255.255.255.255', False),
        ('192.0.2.1', False),
        ('240.0.0.1', False),
        ('::', False),
        ('::1', False),
        ('fe80::1', False),
        ('fec0::1', False),
        ('fc00::1', False),
        ('ff02::1', False),
        ('2001:db8::1', False),
        ('::ffff:127.0.0.1', False),
        ('::ffff:10.0.0.1', False),
        ('2002:7f00:0001::1', False),
        ('64:ff9b::7f00:1', False),
        ('64:ff9b:1::a00:1', False),
        ('2001:0:4136:e378:8000:63bf:3fff:fdd2', False),
    ],
)
def test_public_addresses_only(address, public):
    assert public_addresses_only(ipaddress.ip_address(address)) is public


def test_any_address_allows_everything():
    assert any_address(ipaddress.ip_address('127.0.0.1')) is True


# URLs that are refused whatever they point to


@pytest.mark.parametrize(
    'url',
    [
        'file:///etc/passwd',
        'ftp://127.0.0.1/',
        'gopher://127.0.0.1:70/_stats',
        'javascript:alert(1)',
        'data:text/html,<title>x</title>',
        'http:///no-host',
    ],
)
def test_urls_other_than_http_with_a_host_are_refused(url):
    with pytest.raises(AddressRefused):
        fetch_page(url, address_allowed=any_address)


@pytest.mark.parametrize('user_info', ['user:pass@', 'user@', 'trusted.test@'])
def test_urls_with_user_info_are_refused(serve, user_info):
    server = serve()

    with pytest.raises(AddressRefused):
        fetch_page(f'http://{user_info}127.0.0.1:{server.server_port}/', address_allowed=any_address)

    assert server.connections == 0


def test_redirect_to_another_scheme_is_refused(serve):
    server = serve()
    server.routes['/'] = redirect('file:///etc/passwd')

    with pytest.raises(AddressRefused):
        fetch_page(server.url(), address_allowed=any_address)


# Redirects, statuses and content types


def test_relative_redirects_are_followed_up_to_the_limit(serve):
    server = serve()
    server.routes['/1'] = redirect('/2', status=301)
    server.routes['/2'] = redirect('3', status=307)
    server.routes['/3'] = redirect(server.url('/final'), status=308)
    server.routes['/final'] = html_page('<title>Arrived</title>')

    page = fetch_page(server.url('/1'), address_allowed=any_address, max_redirects=3)

    assert page.url == server.url('/final')
    assert [request.path for request in server.requests] == ['/1', '/2', '/3', '/final']


def test_redirect_loop_stops_after_max_redirects(serve):
    server = serve()
    server.routes['/loop'] = redirect('/loop')

    with pytest.raises(FetchError, match='redirects'):
        fetch_page(server.url('/loop'), address_allowed=any_address, max_redirects=3)

    assert len(server.requests) == 4


@pytest.mark.parametrize('route', [Route(status=404), Route(status=500), Route(status=302)])
def test_status_other_than_2xx_is_a_fetch_error(serve, route):
    server = serve()
    server.routes['/'] = route

    with pytest.raises(FetchError, match=str(route.status)):
        fetch_preview(server.url(), address_allowed=any_address)


def test_non_html_content_is_fetched_but_not_previewed(serve):
    server = serve()
    server.routes['/'] = Route(headers={'Content-Type': 'application/json'}, body=b'{"title": "no"}')

    assert fetch_page(server.url(), address_allowed=any_address).content_type == 'application/json'
    with pytest.raises(FetchError, match='not an HTML page'):
        fetch_preview(server.url(), address_allowed=any_address)


# Time and size are bounded


def test_huge_body_is_cut_at_max_bytes(serve):
    server = serve()
    server.routes['/'] = endless_body

    page = fetch_page(server.url(), address_allowed=any_address, max_bytes=100_000)

    assert page.truncated
    assert len(page.text) == 100_000
    assert page.text.startswith('<title>Endless</title>xxx')


def test_huge_page_is_previewed_from_its_beginning(serve):
    server = serve()
    server.routes['/'] = endless_body

    assert fetch_preview(server.url(), address_allowed=any_address) == ('Endless', None)


def test_small_body_is_not_marked_truncated(serve):
    server = serve()
    server.routes['/'] = html_page('<title>Small</title>')

    page = fetch_page(server.url(), address_allowed=any_address, max_bytes=len('<title>Small</title>'))

    assert not page.truncated
    assert page.text == '<title>Small</title>'


def test_server_that_never_answers_is_a_fetch_error_after_the_timeout():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()  # connections complete in the backlog, never accepted
        port = listener.getsockname()[1]

        with pytest.raises(FetchError):
            fetch_page(f'http://127.0.0.1:{port}/', address_allowed=any_address, timeout=0.5)


@pytest.mark.parametrize('dripping', [drip_body, drip_headers])
def test_server_dripping_bytes_is_cut_off_at_the_deadline(serve, dripping):
    server = serve()
    server.routes['/'] = dripping
    started = time.monotonic()

    with pytest.raises(FetchError, match='took longer'):
        fetch_page(server.url(), address_allowed=any_address, timeout=0.5)

    # The deadline is 1 s; the drip would go on for 10 s.
    assert time.monotonic() - started < 5


def test_refused_connection_is_a_fetch_error():
    with pytest.raises(FetchError) as raised:
        fetch_page(f'http://127.0.0.1:{free_port()}/', address_allowed=any_address, timeout=1)

    assert not isinstance(raised.value, AddressRefused)


# https: the name goes in the SNI and the certificate check


@pytest.fixture(scope='module')
def self_signed_certificate(tmp_path_factory):
    """A certificate and key for "localhost" that no client trusts."""
    if shutil.which('openssl') is None:
        pytest.skip('openssl is needed to make a test certificate')
    directory = tmp_path_factory.mktemp('tls')
    certificate, key = directory / 'cert.pem', directory / 'key.pem'
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
        + ['-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost']
        + ['-keyout', str(key), '-out', str(certificate)],
        check=True,
        capture_output=True,
    )
    return certificate, key


def test_https_sends_the_host_name_as_sni_and_verifies_the_certificate(serve, self_signed_certificate):
    server_names = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_certificate)
    context.sni_callback = lambda tls_socket, name, context: server_names.append(name)
    server = serve(tls_context=context)

    with pytest.raises(FetchError, match='CERTIFICATE_VERIFY_FAILED'):
        fetch_page(f'https://localhost:{server.server_port}/', address_allowed=any_address, timeout=2)

    assert server_names == ['localhost']
    assert server.requests == []


# Logging


def test_refusal_is_logged_with_the_host_only(serve, caplog):
    server = serve()
    caplog.set_level(logging.INFO, logger='flack.previews.fetch')

    with pytest.raises(AddressRefused):
        fetch_page(server.url('/private?token=secret', host='localhost'))

    [record] = caplog.records
    assert 'refused' in record.getMessage()
    assert 'localhost' in record.getMessage()
    assert 'secret' not in record.getMessage()
