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
        from psycopg2 import extensions

        extensions.set_wait_callback(_eventlet_wait_callback)
    elif mode == 'gevent':
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def _eventlet_wait_callback(conn, timeout=-1):
    """eventlet's own psycopg2 wait callback, telling eventlet of the sockets libpq opens.

    A green socket closed while a green thread waits to read it (a websocket
    that another green thread closed) leaves that wait registered under its
    descriptor. eventlet clears it when a green socket is opened with the
    same number; libpq opens its sockets in C, unseen, and eventlet then
    refuses to wait on the new connection ("Second simultaneous read").
    ``notify_opened`` is eventlet's way to say a number was reused.
    """
    import psycopg2
    from eventlet.hubs import notify_opened, trampoline
    from psycopg2 import extensions

    told = None
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        fileno = conn.fileno()
        if fileno != told:  # a new socket (libpq may try several addresses)
            notify_opened(fileno)
            told = fileno
        if state == extensions.POLL_READ:
            trampoline(fileno, read=True)
        elif state == extensions.POLL_WRITE:
            trampoline(fileno, write=True)
        else:
            raise psycopg2.OperationalError(f'Bad result from poll: {state!r}')
