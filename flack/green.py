"""The green-thread library of the web process, chosen by ``ASYNC_MODE``.

gunicorn's worker class (eventlet or gevent, see gunicorn.conf.py)
monkey-patches the process before it imports the application. Everything
else that depends on the choice follows what the process was patched with:
Flask-SocketIO's async mode, and the PostgreSQL driver, whose C code would
otherwise block every green thread of the process during a query. Processes
that were not patched (tests, the Celery worker, command-line tools) use
plain threads.
"""

import sys


def active_mode():
    """'eventlet' or 'gevent' if this process was patched by it, else 'threading'."""
    # A library that was never imported cannot have patched anything.
    if 'eventlet' in sys.modules:
        from eventlet import patcher

        if patcher.is_monkey_patched('socket'):
            return 'eventlet'
    if 'gevent' in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched('socket'):
            return 'gevent'
    return 'threading'


def make_postgresql_cooperative(mode):
    """Give psycopg2 a wait callback that yields to the other green threads."""
    if mode == 'eventlet':
        from eventlet.support import psycopg2_patcher

        psycopg2_patcher.make_psycopg_green()
    elif mode == 'gevent':
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()
