"""What every response says about itself, and how far the router is trusted."""

from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

# Scripts and styles from this origin only, no inline code, connections back
# to this origin (Socket.IO included), and no framing by other sites.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HSTS = 'max-age=31536000; includeSubDomains'


def init_app(app):
    """Trust the platform's router for one hop, and add the security headers."""
    # The router sets X-Forwarded-For and -Proto; anything a client adds in
    # front of those is beyond the one hop trusted here.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    app.after_request(add_security_headers)


def add_security_headers(response):
    headers = response.headers
    headers.setdefault('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    headers.setdefault('X-Content-Type-Options', 'nosniff')
    headers.setdefault('Referrer-Policy', 'no-referrer')
    headers.setdefault('X-Frame-Options', 'DENY')
    # Only over HTTPS (as the router saw it): a browser ignores HSTS on HTTP.
    if request.is_secure:
        headers.setdefault('Strict-Transport-Security', HSTS)
    return response
