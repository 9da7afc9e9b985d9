"""What every response says about itself, and how many proxies in front of it are trusted."""

from urllib.parse import urlsplit, urlunsplit

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

# Scripts and styles from this origin only, no inline code, connections back
# to this origin (Socket.IO included), and no framing by other sites.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HSTS = 'max-age=31536000; includeSubDomains'
# On every answer: Flask's, Engine.IO's, and gunicorn's own (flack.gunicorn_errors).
HEADERS = {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
}


def init_app(app):
    """Trust ``TRUSTED_PROXY_HOPS`` proxies, add the security headers, keep redirects relative."""
    app.after_request(keep_redirect_relative)
    # Around the whole WSGI application rather than in an after_request:
    # Engine.IO (Flask-SocketIO's middleware) answers /socket.io before Flask
    # sees the request.
    app.wsgi_app = SecurityHeaders(app.wsgi_app)
    hops = app.config['TRUSTED_PROXY_HOPS']
    if hops:
        # Each proxy appends to X-Forwarded-For the address it was reached
        # from (the platform's router is one hop): the entry ``hops`` from the
        # right becomes REMOTE_ADDR, which the rate limits and the logs read,
        # and whatever a client wrote in front of it is not believed. Outside
        # SecurityHeaders, so that HSTS goes by the scheme the router saw.
        # With no hop trusted (clients reach the process directly) both
        # headers are the client's own words and are ignored: the address is
        # the connection's peer, the scheme the connection's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


class SecurityHeaders:
    """WSGI middleware: the security headers on every answer that does not set them itself."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        added = dict(HEADERS)
        # Only over HTTPS (as the router saw it): a browser ignores HSTS on HTTP.
        if environ.get('wsgi.url_scheme') == 'https':
            added['Strict-Transport-Security'] = HSTS

        def start_response_with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers.extend((name, value) for name, value in added.items() if name.lower() not in present)
            return start_response(status, headers, exc_info)

        # An upgraded websocket writes its handshake on the socket itself,
        # without start_response: it goes out without these (none of them
        # means anything to a websocket client).
        return self.wsgi_app(environ, start_response_with_headers)


def keep_redirect_relative(response):
    """The redirects routing makes (merged slashes, a missing trailing slash)
    point at the path alone.

    Werkzeug builds them as absolute URLs from the Host header, which the
    client chose: a shared cache keyed without it would hand a redirect to
    another site to everyone. A browser resolves a relative Location against
    the address it asked for. The body, Werkzeug's HTML page naming that URL,
    goes too.
    """
    if isinstance(request.routing_exception, RequestRedirect) and 'Location' in response.headers:
        location = urlsplit(response.headers['Location'])
        # One leading slash: "//host/..." would be another host again.
        path = '/' + location.path.lstrip('/')
        response.headers['Location'] = urlunsplit(('', '', path, location.query, ''))
        response.set_data(b'')
        del response.headers['Content-Type']
    return response
