"""The Celery tasks, run as the worker runs them, in an app of the scaled
mode with a Redis of the test's own as broker: the retry of pending previews
queues a lost message again once per grace period however many clocks send
it, and a duty the database cannot run is one warning line, not a traceback."""

import json

import pytest

from flack import create_app, tasks
from flack.extensions import db
from flack.models import Message, User, timestamp

from .conftest import make_environ


@pytest.fixture
def worker_app(tmp_path, redis_server):  # noqa: F811
    """Make the app of a worker process on that Redis, with the database of the test's choosing."""
    made = []

    def make(database_url=None):
        app = create_app(
            make_environ(tmp_path, REDIS_URL=redis_server.url, DATABASE_URL=database_url), 'worker'
        )
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_lost_preview_is_queued_again_once_per_grace_period(worker_app, redis_connection):  # noqa: F811
    app = worker_app()
    with app.app_context():
        db.create_all()
        user = User(nickname='susan')
        user.set_password('correct horse')
        db.session.add(user)
        db.session.flush()
        waited = timestamp() - app.config['PENDING_PREVIEWS_GRACE'] - 1
        lost = Message(
            user_id=user.id, source='<http://a.example>', html='', previews_pending=True, updated_at=waited
        )
        db.session.add(lost)
        db.session.commit()

        tasks.retry_pending_previews()
        tasks.retry_pending_previews()  # from a second clock

    queued = [json.loads(task)['headers'] for task in redis_connection.lrange('celery', 0, -1)]
    assert [(task['task'], task['argsrepr']) for task in queued] == [('flack.add_previews', f'({lost.id},)')]


def test_a_duty_the_database_cannot_run_is_one_warning_line(worker_app, tmp_path, caplog):
    app = worker_app(f'sqlite:///{tmp_path / "no such folder" / "flack.sqlite"}')

    with app.app_context():
        tasks.sweep_presence()
        tasks.retry_pending_previews()

    warnings = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == 'flack.tasks']
    assert warnings == [
        ('WARNING', f'event=database_unavailable task={task} error=OperationalError')
        for task in ('sweep_presence', 'retry_pending_previews')
    ]
