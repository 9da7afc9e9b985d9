"""The green-thread library of the web process, chosen by ``ASYNC_MODE``.

Monkey patching has to happen before anything else imports the socket or
threading modules, so the web entry point calls ``patch()`` first thing.
Everything that depends on the choice (Flask-SocketIO's ``async_mode``, the
gunicorn worker class) asks ``active_mode()`` or ``worker_class()``.
"""

import sys

_active = None

WORKER_CLASSES = {'eventlet': 'eventlet', 'gevent': 'gevent'}


def patch(mode):
    """Monkey-patch the standard library for ``mode`` (eventlet or gevent)."""
    global _active
    if _active == mode:
        return
    if mode == 'eventlet':
        import eventlet

        eventlet.monkey_patch()
    elif mode == 'gevent':
        from gevent import monkey

        monkey.patch_all()
    else:
        raise ValueError(f'unknown async mode {mode!r}')
    _active = mode


def active_mode():
    """The Flask-SocketIO async mode matching what this process patched.

    Processes that did not patch (tests, command-line tools) use plain
    threads; an unpatched eventlet would block the whole process.
    """
    return _active or _detect_patched() or 'threading'


def _detect_patched():
    # gunicorn's eventlet and gevent workers patch the process themselves;
    # a library that was never imported cannot have patched anything.
    if 'eventlet' in sys.modules:
        from eventlet import patcher

        if patcher.is_monkey_patched('socket'):
            return 'eventlet'
    if 'gevent' in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched('socket'):
            return 'gevent'
    return None


def worker_class(mode):
    """The gunicorn worker class for ``mode``."""
    return WORKER_CLASSES[mode]
