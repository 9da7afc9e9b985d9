"""Adding link previews to a stored message (run by a background worker)."""

from flask import current_app
from sqlalchemy import select

from . import fetch
from .extensions import db
from .models import Message, timestamp
from .render import links_to_preview, render_markdown, render_preview


class PreviewsNotReady(Exception):
    """A page did not answer in a way that may pass; try the message again later."""


def add_previews(message_id, give_up_on_transient_errors=True):
    """Fetch the previews of a message and store them; safe to run twice.

    Nothing happens for a message that is gone or no longer pending, and
    previews computed for a text that was edited meanwhile are dropped (the
    edit queued its own run), so a task redone after a crash does no harm.
    When a page fails in a way that may pass and ``give_up_on_transient_errors``
    is false, ``PreviewsNotReady`` is raised and the message stays pending.
    """
    message = db.session.get(Message, message_id)
    if message is None or not message.previews_pending:
        return
    source = message.source
    db.session.rollback()  # hold no transaction open while fetching

    blocks, transient_failures = [], 0
    for url in links_to_preview(source):
        try:
            blocks.append(_fetch_preview(url))
        except fetch.FetchError as error:
            transient_failures += error.transient
    if transient_failures and not give_up_on_transient_errors:
        raise PreviewsNotReady(f'{transient_failures} page(s) may answer later')

    # Locked until the commit, so that of two runs racing on one message
    # (a task redelivered while the first still ran) only one stores it.
    message = db.session.get(Message, message_id, with_for_update=True, populate_existing=True)
    if message is None or not message.previews_pending or message.source != source:
        db.session.rollback()
        return
    message.previews_pending = False
    if blocks:
        message.html = render_markdown(source) + ''.join(blocks)
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
