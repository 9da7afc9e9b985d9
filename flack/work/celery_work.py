"""Background work for the scaled mode: Celery workers, with Redis as broker.

The Celery app is built from the Flask config and runs every task inside
the Flask app context, as Flask's documented Celery pattern does; the tasks
themselves are in ``flack.tasks``. The clock (Celery beat) only sends the
periodic tasks; the workers run them.
"""

import logging

from celery import Celery, Task, signals
from kombu.exceptions import KombuError
from kombu.transport import redis as kombu_redis
from redis import RedisError

# Imported, the tasks are registered: every process with this app knows them.
from .. import tasks
from ..redis_client import redis_options
from . import PERIODIC_INTERVAL

log = logging.getLogger(__name__)


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
        broker_transport='flack.work.celery_work:RedisTransport',
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
            tasks.add_previews.apply_async((message_id,), retry=False)
        except (KombuError, RedisError, OSError) as error:
            # The message stays marked pending; the clock queues it later.
            log.warning('event=preview_not_queued message_id=%s error=%s', message_id, type(error).__name__)

    def start_periodic(self):
        """Nothing to start: the clock process sends the periodic tasks."""

    def stop_periodic(self):
        """Nothing to stop: the clock process sends the periodic tasks."""
