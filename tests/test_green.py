"""The green-thread library is the one the process was patched with; one
merely imported (as in tests and the Celery worker) does not count."""

import subprocess
import sys

import pytest

from .live import ROOT, child_environ
from .services import POSTGRES_ADMIN_URL, PostgresDatabase


@pytest.mark.parametrize(
    ('patch', 'mode'),
    [
        ('import eventlet; eventlet.monkey_patch()', 'eventlet'),
        ('from gevent import monkey; monkey.patch_all()', 'gevent'),
        ('import eventlet, gevent', 'threading'),
        ('', 'threading'),
    ],
    ids=['eventlet', 'gevent', 'imported only', 'neither'],
)
def test_the_mode_is_what_the_process_was_patched_with(patch, mode):
    code = f'{patch}\nfrom flack.green import active_mode\nprint(active_mode())'

    run = subprocess.run(
        [sys.executable, '-c', code],
        cwd=ROOT,
        env=child_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.stdout.strip() == mode, run.stderr


# A green socket closed while a green thread waits to read it, then a
# PostgreSQL connection whose socket gets the same descriptor.
STALE_READER_THEN_CONNECT = """
import eventlet
eventlet.monkey_patch()
import socket, sys
import psycopg2
from flack.green import make_postgresql_cooperative

make_postgresql_cooperative('eventlet')
ends = []

def read(sock):
    try:
        sock.recv(1)
    except (EOFError, OSError) as error:
        ends.append(type(error).__name__)

a, b = socket.socketpair()
eventlet.spawn(read, a)
eventlet.sleep(0)
reused = a.fileno()
a.close()
connection = psycopg2.connect(sys.argv[1], connect_timeout=5)
cursor = connection.cursor()
cursor.execute('SELECT 1')
eventlet.sleep(0)
print(connection.fileno() == reused, cursor.fetchone()[0], ends)
"""


def test_a_postgresql_connection_may_reuse_the_descriptor_of_a_socket_closed_under_its_reader():
    # eventlet's own wait callback fails here ("Second simultaneous read"):
    # a websocket closed by another green thread leaves such a reader.
    PostgresDatabase._execute('SELECT 1')  # PostgreSQL answers (else the test skips, or fails where required)
    run = subprocess.run(
        [sys.executable, '-c', STALE_READER_THEN_CONNECT, POSTGRES_ADMIN_URL],
        cwd=ROOT,
        env=child_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    # The connection took the descriptor, answers, and the stale reader was told its socket closed.
    assert run.stdout.split() == ['True', '1', "['EOFError']"], run.stderr[-2000:]
