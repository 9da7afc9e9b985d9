"""The green-thread library of the web process, chosen by ``ASYNC_MODE``.

gunicorn's worker class (see gunicorn.conf.py) monkey-patches the process
before it imports the application; Flask-SocketIO must then use the same
library, and anything that runs unpatched (tests, command-line tools) plain
threads: an unpatched eventlet would block the whole process.
"""

import sys


def active_mode():
    """The Flask-SocketIO async mode matching how this process was patched."""
    # A library that was never imported cannot have patched anything.
    if 'eventlet' in sys.modules:
        from eventlet import patcher

        if patcher.is_monkey_patched('socket'):
            return 'eventlet'
    return 'threading'
