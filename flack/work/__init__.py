"""Background work: link previews and the periodic duties, off the request.

One interface, two implementations, picked once in ``create_app``:
``in_process.InProcessWork`` (embedded mode: green threads of the web
process) and ``celery_work.CeleryWork`` (scaled mode: Celery workers and
the clock). Code that queues work asks ``background_work()`` and never
which one runs it.
"""

from typing import Protocol

from flask import current_app

EXTENSION = 'flack.work'
# How often the periodic duties (presence sweep, retry of pending previews) run, in both modes.
PERIODIC_INTERVAL = 5


class BackgroundWork(Protocol):
    def enqueue_previews(self, message_id: int) -> None:
        """Have the previews of the message fetched and stored, soon; never raises.

        Work that cannot be queued is left to the periodic retry: the
        message stays marked pending.
        """

    def start_periodic(self) -> None:
        """Have the periodic duties run every ``PERIODIC_INTERVAL`` seconds
        from now on, if this process is the one to run them."""

    def stop_periodic(self) -> None:
        """Stop what ``start_periodic`` started in this process (an app
        that goes before its process does: tests)."""


def init_app(app, work: BackgroundWork):
    """Make ``work`` the background work of ``app``."""
    app.extensions[EXTENSION] = work


def background_work(app=None) -> BackgroundWork:
    """The background work of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]
