"""Background work for the embedded mode: green threads of the web process."""

import logging
import time

from .. import presence, previews
from ..extensions import db
from ..realtime.server import socketio
from . import PERIODIC_INTERVAL

log = logging.getLogger(__name__)


class InProcessWork:
    """Runs previews and the periodic duties inside the web process."""

    def __init__(self, app):
        self.app = app
        self._periodic = None
        self._stopped = False

    def enqueue_previews(self, message_id):
        socketio(self.app).start_background_task(self._run, previews.add_previews, message_id)

    def start_periodic(self):
        """Start the presence sweep and the pending-preview retry, once."""
        if self._periodic is None:
            self._periodic = socketio(self.app).start_background_task(self._periodic_loop)

    def stop_periodic(self):
        """End the periodic loop; a run under way finishes first."""
        self._stopped = True

    def run_periodic_once(self):
        self._run(presence.sweep)
        grace = self.app.config['PENDING_PREVIEWS_GRACE']
        for message_id in self._run(previews.pending_message_ids, grace) or ():
            self.enqueue_previews(message_id)

    def _periodic_loop(self):
        while not self._stopped:
            self.run_periodic_once()
            socketio(self.app).sleep(PERIODIC_INTERVAL)

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
