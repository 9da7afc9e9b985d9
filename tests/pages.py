"""Real HTTP servers on loopback addresses, for tests that fetch pages.

Each records the requests it receives, so a test can prove that a refused
fetch never reached it.
"""

import socket
import socketserver
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HTML = 'text/html; charset=utf-8'


@dataclass
class Route:
    """A canned answer: status, headers and body."""

    status: int = 200
    headers: dict = field(default_factory=lambda: {'Content-Type': HTML})
    body: bytes = b''


def html_page(markup, content_type=HTML, charset='utf-8'):
    return Route(headers={'Content-Type': content_type}, body=markup.encode(charset))


def redirect(location, status=302):
    return Route(status=status, headers={'Location': location})


@dataclass
class Request:
    path: str
    headers: Message


def send(handler, route):
    """Answer the request ``handler`` holds with the canned ``route``."""
    handler.send_response(route.status)
    for name, value in route.headers.items():
        handler.send_header(name, value)
    handler.send_header('Content-Length', str(len(route.body)))
    handler.end_headers()
    handler.wfile.write(route.body)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append(Request(self.path, self.headers))
        route = server.routes.get(self.path, Route(status=404))
        if callable(route):
            route(self, server.stopping)
        else:
            send(self, route)

    def log_message(self, format, *args):
        pass


class LocalServer(ThreadingHTTPServer):
    """A real HTTP server on a loopback address, serving ``routes`` and recording what it receives."""

    daemon_threads = True

    def __init__(self, host, port=0, tls_context=None):
        self.address_family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.routes = {}
        self.requests = []
        self.connections = 0
        self.stopping = threading.Event()
        super().__init__((host, port), _Handler)
        if tls_context is not None:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True
        )
        self._thread.start()

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's full name, a DNS query
        # that only slows a test down.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def verify_request(self, request, client_address):
        self.connections += 1
        return True

    @property
    def host(self):
        address = self.server_address[0]
        return f'[{address}]' if ':' in address else address

    def url(self, path='/', host=None):
        return f'http://{host or self.host}:{self.server_port}{path}'

    def stop(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join()


@pytest.fixture
def serve():
    """Start a ``LocalServer`` on a loopback address (127.0.0.1 by default); stopped after the test."""
    servers = []

    def start(host='127.0.0.1', port=0, tls_context=None):
        try:
            server = LocalServer(host, port, tls_context)
        except OSError as error:
            if host == '::1':
                pytest.skip(f'no IPv6 loopback here: {error}')
            raise
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
