"""Slow and periodic work for the embedded mode: green threads of the web process.

The scaled mode's ``tasks.CeleryWork`` offers the same two methods, so the
code that queues work does not know which one runs it.
"""

import logging
import time

from . import presence, previews
from .extensions import db, socketio

log = logging.getLogger(__name__)

# How often the periodic duties run (in both modes).
PERIODIC_INTERVAL = 5


class InProcessWork:
    """Runs previews and the periodic duties inside the web process."""

    def __init__(self, app):
        self.app = app
        self._periodic = None

    def enqueue_previews(self, message_id):
        socketio.start_background_task(self._run, previews.add_previews, message_id)

    def start_periodic(self):
        """Start the presence sweep and the pending-preview retry, once."""
        if self._periodic is None:
            self._periodic = socketio.start_background_task(self._periodic_loop)

    def run_periodic_once(self):
        self._run(presence.sweep)
        grace = self.app.config['PENDING_PREVIEWS_GRACE']
        for message_id in self._run(previews.pending_message_ids, grace) or ():
            self.enqueue_previews(message_id)

    def _periodic_loop(self):
        while True:
            self.run_periodic_once()
            socketio.sleep(PERIODIC_INTERVAL)

    def _run(self, job, *args):
        started = time.monotonic()
        with self.app.app_context():
            try:
                return job(*args)
            except Exception:
                # A failed run must not end the loop; the next one retries.
                log.exception('event=background_job_failed job=%s', job.__name__)
                db.session.rollback()
            finally:
                log.debug(
                    'event=background_job job=%s seconds=%.3f', job.__name__, time.monotonic() - started
                )
        return None
