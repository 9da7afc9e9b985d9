"""The clock process's scheduler (the Procfile's ``clock``: Celery beat)."""

import logging

from celery import beat

from .logs import quote

log = logging.getLogger(__name__)


class Scheduler(beat.Scheduler):
    """Celery beat's in-memory scheduler (nothing to keep between runs),
    with a task it could not send logged as one line.

    The stock scheduler logs the whole call stack each time the broker is
    away at a tick (a Redis restart): not a fault in Flack, and the task is
    simply sent again at its next tick.
    """

    def apply_entry(self, entry, producer=None):
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as error:  # whatever the broker's client raised: try again next tick
            log.warning(
                'event=periodic_task_not_sent task=%s error=%s detail=%s',
                entry.name,
                type(error).__name__,
                quote(str(error)),
            )
        else:
            log.info('event=periodic_task_sent task=%s', entry.name)
