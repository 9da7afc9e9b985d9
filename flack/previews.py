"""Adding link previews to a stored message (run by a background worker)."""

import logging

from flask import current_app
from sqlalchemy import select

from . import fetch
from .extensions import db
from .models import Message, timestamp
from .render import links_to_preview, render_markdown, render_preview

log = logging.getLogger(__name__)


def add_previews(message_id):
    """Fetch the previews of a message and store them; safe to run twice.

    Nothing happens for a message that is gone or no longer pending, and
    previews computed for a text that was edited meanwhile are dropped (the
    edit queued its own run), so a task redone after a crash does no harm.
    """
    message = db.session.get(Message, message_id)
    if message is None or not message.previews_pending:
        return
    source = message.source
    db.session.rollback()  # release the database while fetching
    blocks = [block for url in links_to_preview(source) if (block := _preview_of(url))]
    message = db.session.get(Message, message_id)
    if message is None or not message.previews_pending or message.source != source:
        return
    message.previews_pending = False
    if blocks:
        message.html = render_markdown(source) + ''.join(blocks)
        message.touch()
    db.session.commit()


def _preview_of(url):
    config = current_app.config
    policy = fetch.any_address if config['LINK_PREVIEWS_ALLOW_PRIVATE'] else fetch.public_addresses_only
    try:
        title, description = fetch.fetch_preview(
            url, address_allowed=policy, timeout=config['LINK_PREVIEW_TIMEOUT']
        )
    except fetch.FetchError as error:
        log.info('event=preview_skipped reason=%s', type(error).__name__)
        return None
    return render_preview(url, title, description)


def pending_message_ids(older_than_seconds):
    """Ids of messages whose previews have waited longer than given."""
    cutoff = timestamp() - older_than_seconds
    query = select(Message.id).where(Message.previews_pending.is_(True), Message.updated_at < cutoff)
    return db.session.scalars(query).all()
