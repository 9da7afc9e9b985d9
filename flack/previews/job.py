"""The preview job: adding link previews to a stored message (run by the background work).

Every run ends, and so does every message's need of them: a run that may
succeed later (a page that timed out, a database that was away) leaves the
message pending, anything else marks it done, and a message's links are
fetched in at most ``MOST_PREVIEW_ATTEMPTS`` runs, however often a task is
redelivered, retried or queued again.
"""

import logging

from flask import current_app
from sqlalchemy import select

from ..api.errors import DATABASE_UNAVAILABLE
from ..extensions import db
from ..models import Message, timestamp
from ..render import previewable_links, render_preview
from . import fetch

log = logging.getLogger(__name__)

# Runs that may fetch the links of one text (each fetches each link once).
# Five is the Celery task's first run and its PREVIEW_RETRIES: the last run
# stores what it has, so a page that keeps timing out costs five fetches,
# and a run lost to a crash or an outage uses one of the five.
MOST_PREVIEW_ATTEMPTS = 5


class PreviewsNotReady(Exception):
    """A page did not answer in a way that may pass; try the message again later."""


def add_previews(message_id, give_up_on_transient_errors=True):
    """Fetch the previews of a message and store them; safe to run twice.

    Nothing happens for a message that is gone or no longer pending, and
    previews computed for a text that was edited meanwhile are dropped (the
    edit queued its own run), so a task redone after a crash does no harm.
    When a page fails in a way that may pass and ``give_up_on_transient_errors``
    is false, ``PreviewsNotReady`` is raised and the message stays pending,
    unless this is its last attempt: that one stores what it has. Previews
    that cannot be stored (any error but a database outage) leave the
    message as it was, no longer pending. Database outages are raised.
    """
    attempt = _start_attempt(message_id)
    if attempt is None:
        return
    source, links, last_attempt = attempt

    blocks, transient_failures = [], 0
    for url in links:
        try:
            blocks.append(_fetch_preview(url))
        except fetch.FetchError as error:
            transient_failures += error.transient
        except Exception:
            # Not the network (fetch raises only FetchError for that) but
            # what the page made of the parsing or rendering: it would do
            # the same again.
            log.exception('event=preview_failed message_id=%s', message_id)
    if transient_failures and not (give_up_on_transient_errors or last_attempt):
        raise PreviewsNotReady(f'{transient_failures} page(s) may answer later')

    try:
        _store(message_id, source, blocks)
    except DATABASE_UNAVAILABLE:
        raise  # may pass: the message stays pending
    except Exception:
        # The database refused what the pages gave (as psycopg2's ValueError
        # for a NUL, or either driver's UnicodeEncodeError for a lone
        # surrogate, before fetch removed them): it would refuse it again,
        # so the message keeps its text and is done.
        db.session.rollback()
        log.exception('event=previews_not_stored message_id=%s', message_id)
        _store(message_id, source, [])


def _start_attempt(message_id):
    """Count a run on the message before it fetches anything.

    Returns the text, the links to fetch and whether this is the last
    attempt, or None when there is nothing to fetch: the message is gone, done,
    or out of attempts (then it is marked done here).
    """
    # Locked, so that runs racing on one message (a redelivered task) count
    # one each; committed at once, so that no transaction stays open while
    # fetching and a run that dies while fetching still counts.
    message = db.session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message is None or not message.previews_pending:
        db.session.rollback()
        return None
    if message.preview_attempts >= MOST_PREVIEW_ATTEMPTS:
        # Every attempt so far ended without storing (crashes, outages).
        message.previews_pending = False
        db.session.commit()
        log.warning('event=previews_given_up message_id=%s attempts=%s', message_id, MOST_PREVIEW_ATTEMPTS)
        return None
    message.preview_attempts += 1
    # The links of the HTML rendered on post: the source is not parsed again.
    links = previewable_links(message.html)
    attempt = message.source, links, message.preview_attempts >= MOST_PREVIEW_ATTEMPTS
    db.session.commit()
    return attempt


def _store(message_id, source, blocks):
    """Append ``blocks`` to the message and mark it done, unless its text changed meanwhile."""
    # Locked until the commit, so that of two runs racing on one message
    # (a task redelivered while the first still ran) only one stores it.
    message = db.session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message is None or not message.previews_pending or message.source != source:
        db.session.rollback()
        return
    message.previews_pending = False
    if blocks:
        # Appended to the HTML rendered on post, which a pending message's
        # html always is (text and html change together): no second parse.
        message.html += ''.join(blocks)
        message.touch()
    db.session.commit()


def _fetch_preview(url):
    config = current_app.config
    policy = fetch.any_address if config['LINK_PREVIEWS_ALLOW_PRIVATE'] else fetch.public_addresses_only
    title, description = fetch.fetch_preview(
        url, address_allowed=policy, timeout=config['LINK_PREVIEW_TIMEOUT']
    )
    return render_preview(url, title, description)


def pending_message_ids(older_than_seconds):
    """Ids of messages whose previews have waited longer than given."""
    cutoff = timestamp() - older_than_seconds
    query = select(Message.id).where(Message.previews_pending.is_(True), Message.updated_at < cutoff)
    return db.session.scalars(query).all()
