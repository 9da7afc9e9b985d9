"""The Celery tasks of the scaled mode: link previews and the periodic duties.

Plain functions over the Flask app, as in Flask's documented Celery pattern:
the wiring (the Celery app, the broker, the adapter that queues them) is in
``flack.work.celery_work``, and their names are what Redis holds in queued
messages, so they do not change.
"""

import logging

from celery import shared_task
from flask import current_app

from . import presence, previews, redis_client
from .api.errors import DATABASE_UNAVAILABLE
from .work import background_work

log = logging.getLogger(__name__)

# A preview task is retried this many times, with a growing delay, when a
# page did not answer in a way that may pass (a timeout, a 503).
PREVIEW_RETRIES = 4


@shared_task(name='flack.add_previews', bind=True, acks_late=True, max_retries=PREVIEW_RETRIES)
def add_previews(self, message_id):
    """Fetch and store the previews of a message; retried while pages or the database may come back."""
    last_attempt = self.request.retries >= self.max_retries
    try:
        previews.add_previews(message_id, give_up_on_transient_errors=last_attempt)
    except previews.PreviewsNotReady as error:
        raise self.retry(exc=error, countdown=5 * 2**self.request.retries) from error
    except DATABASE_UNAVAILABLE as error:
        _database_unavailable('add_previews', error)
        if last_attempt:
            return  # the message stays pending: the clock's retry queues it again
        raise self.retry(exc=error, countdown=5 * 2**self.request.retries) from error


@shared_task(name='flack.sweep_presence')
def sweep_presence():
    """Take offline the users silent for longer than the timeout."""
    try:
        presence.sweep()
    except DATABASE_UNAVAILABLE as error:
        _database_unavailable('sweep_presence', error)  # the next run, 5 s on, sweeps again


def _database_unavailable(task, error):
    # One line, not Celery's traceback: while the database is away every run fails alike.
    cause = getattr(error, 'orig', None) or error
    log.warning('event=database_unavailable task=%s error=%s', task, type(cause).__name__)


@shared_task(name='flack.retry_pending_previews')
def retry_pending_previews():
    """Queue again the previews that have waited too long (lost tasks).

    A message is queued again at most once per grace period, however many
    clocks send this task: a message still in its retries is not flooded.
    """
    grace = current_app.config['PENDING_PREVIEWS_GRACE']
    redis = redis_client.connection()
    try:
        pending = previews.pending_message_ids(grace)
    except DATABASE_UNAVAILABLE as error:
        _database_unavailable('retry_pending_previews', error)  # the next run, 5 s on, looks again
        return
    for message_id in pending:
        if redis.set(f'flack:previews:requeued:{message_id}', 1, nx=True, ex=grace):
            background_work().enqueue_previews(message_id)
