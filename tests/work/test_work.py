"""Background work: one contract, run against both implementations.

In process (the embedded mode: green threads of the app's own process), and
on Celery (the scaled mode: a real Redis, and the Procfile's worker and
clock on PostgreSQL). The test process holds an app of the mode, whose
``background_work()`` is the implementation under test.
"""

import pytest

from flack import create_app
from flack.extensions import db
from flack.models import Message
from flack.render import render_markdown, render_preview
from flack.work import background_work

from ..conftest import Accounts, make_environ
from ..formation import Formation
from ..live import wait_for
from ..pages import html_page
from ..services import PostgresDatabase, RedisServer

PAGE = html_page('<title>A local page</title><meta name="description" content="Made for tests">')
PREVIEW = ('A local page', 'Made for tests')


@pytest.fixture(params=['in_process', pytest.param('celery', marks=pytest.mark.scaled)])
def app(request, tmp_path):
    """An app whose background work is the implementation under test, with what runs it."""
    settings = {'LINK_PREVIEWS_ALLOW_PRIVATE': 1}
    if request.param == 'in_process':
        app = create_app(make_environ(tmp_path, **settings))
        with app.app_context():
            db.create_all()
        yield app
    else:
        # Redis first: a test skipped for want of redis-server leaves no database behind.
        redis_server = RedisServer(tmp_path).start()
        database = PostgresDatabase()
        formation = Formation(tmp_path, database.url, redis_server.url).release()
        formation.start('worker')
        formation.start('clock', wait=False)
        # As the Celery processes are: it queues tasks and emits, serving no client.
        environ = make_environ(tmp_path, DATABASE_URL=database.url, REDIS_URL=redis_server.url, **settings)
        app = create_app(environ, process='worker')
        yield app
        formation.stop()
        redis_server.stop()
        database.drop()
    background_work(app).stop_periodic()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def page(serve):
    server = serve()
    server.routes['/'] = PAGE
    return server


def _pending_message(app, source, **columns):
    """A message stored as posting leaves it, its previews pending, but queued nowhere."""
    author = Accounts(app.test_client()).new('susan')
    with app.app_context():
        message = Message(
            user_id=author.id, source=source, html=render_markdown(source), previews_pending=True, **columns
        )
        db.session.add(message)
        db.session.commit()
        return message.id


def _previewed(app, message_id):
    """The message's html once its previews are stored, or None while they are pending."""
    with app.app_context():
        message = db.session.get(Message, message_id, populate_existing=True)
        html, pending = message.html, message.previews_pending
        db.session.rollback()
    return None if pending else html


def test_queued_previews_are_fetched_and_stored(app, page):
    source = f'look: {page.url("/")}'
    message_id = _pending_message(app, source)

    background_work(app).enqueue_previews(message_id)

    html = wait_for(lambda: _previewed(app, message_id), 'the preview', 30)
    assert html == render_markdown(source) + render_preview(page.url('/'), *PREVIEW)
    assert len(page.requests) == 1


def test_the_periodic_duties_queue_again_a_message_left_pending(app, page):
    # Its task lost long ago (a crash, Redis away when it was posted).
    message_id = _pending_message(app, page.url('/'), updated_at=1)

    background_work(app).start_periodic()

    html = wait_for(lambda: _previewed(app, message_id), 'the periodic retry', 30)
    assert html.endswith(render_preview(page.url('/'), *PREVIEW))
