"""Background work on Celery (scaled mode): link previews and the periodic duties.

The Celery app is built from the Flask config and runs every task inside
the Flask app context, as Flask's documented Celery pattern does. The clock
(Celery beat) only sends the periodic tasks; the workers run them.
"""

import logging

from celery import Celery, Task, shared_task, signals
from flask import current_app
from kombu.exceptions import KombuError
from kombu.transport import redis as kombu_redis
from redis import RedisError

from . import presence, previews
from .api.errors import DATABASE_UNAVAILABLE
from .background import PERIODIC_INTERVAL
from .redis_client import redis_options

log = logging.getLogger(__name__)

# A preview task is retried this many times, with a growing delay, when a
# page did not answer in a way that may pass (a timeout, a 503).
PREVIEW_RETRIES = 4


def celery_init_app(app):
    """Create the Celery app for ``app`` and store it in ``app.extensions``."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    tls = redis_options(app.config)
    celery.conf.update(
        broker_url=app.config['REDIS_URL'],
        broker_transport='flack.tasks:RedisTransport',
        broker_use_ssl=tls or None,
        # Acknowledged after the task ran: a worker that dies mid-task leaves
        # the message to be delivered again (the tasks are idempotent).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Redelivery of a task whose worker vanished; far above a task's run time.
        broker_transport_options={'visibility_timeout': 300},
        # While the broker is away, queueing fails at once instead of holding
        # the request; the periodic duty queues what was missed.
        task_publish_retry=False,
        broker_connection_retry_on_startup=True,
        # No result backend: nothing reads a task's result, so no process
        # opens a connection for results.
        result_backend=None,
        task_ignore_result=True,
        # Connections (heroku-redis:mini allows 20 in all, see the README's
        # connection budgets): one to send tasks per process (a web process's
        # green threads wait for it; a send takes well under a millisecond),
        # and no remote control, which would hold a subscription per worker.
        # The worker's gossip, mingle and heartbeat are off too (see below).
        broker_pool_limit=1,
        worker_enable_remote_control=False,
        worker_concurrency=app.config['WORKER_CONCURRENCY'],
        # With REMAP_SIGTERM=SIGQUIT (see the Procfile), the platform's
        # SIGTERM gives running tasks this long to finish before the worker
        # stops and returns them to the queue, inside the 30 s window.
        worker_soft_shutdown_timeout=10.0,
        worker_hijack_root_logger=False,
        beat_scheduler='flack.clock:Scheduler',
        beat_schedule={
            'sweep-presence': {'task': 'flack.sweep_presence', 'schedule': PERIODIC_INTERVAL},
            'retry-pending-previews': {'task': 'flack.retry_pending_previews', 'schedule': PERIODIC_INTERVAL},
        },
    )
    celery.set_default()
    app.extensions['celery'] = celery
    return celery


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, without the idle connection its check leaves.

    A channel checks the server with a PING on the connection it would
    consume with (BRPOP), and keeps it open: one connection more for every
    process that only sends tasks (a web process, the clock, a worker's pool
    child), idle for good. Closed here; a consumer's first BRPOP opens it
    again.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.async_pool.disconnect()


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport on ``RedisChannel``."""

    Channel = RedisChannel


@signals.worker_init.connect
def _without_monitoring(sender, **kwargs):
    """Run the worker as ``--without-gossip --without-mingle --without-heartbeat``.

    Those steps keep workers informed of each other and of monitors (Flower),
    which Flack has no use for, at the cost of Redis connections of their
    own. Set here rather than on the Procfile's command line so that every
    way of starting the worker gets them; the worker reads its options
    after this signal.
    """
    sender.options.update(without_gossip=True, without_mingle=True, without_heartbeat=True)


class CeleryWork:
    """Queues previews for the Celery workers; the clock runs the periodic duties."""

    def __init__(self, app):
        self.app = app

    def enqueue_previews(self, message_id):
        try:
            add_previews.apply_async((message_id,), retry=False)
        except (KombuError, RedisError, OSError) as error:
            # The message stays marked pending; the clock queues it later.
            log.warning('event=preview_not_queued message_id=%s error=%s', message_id, type(error).__name__)

    def start_periodic(self):
        """Nothing to start: the clock process sends the periodic tasks."""


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
    redis = current_app.extensions['flack.redis']
    try:
        pending = previews.pending_message_ids(grace)
    except DATABASE_UNAVAILABLE as error:
        _database_unavailable('retry_pending_previews', error)  # the next run, 5 s on, looks again
        return
    for message_id in pending:
        if redis.set(f'flack:previews:requeued:{message_id}', 1, nx=True, ex=grace):
            current_app.extensions['flack.background'].enqueue_previews(message_id)
