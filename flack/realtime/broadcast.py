"""Every committed change to a user, a channel or a message is pushed to the clients that may see it.

``init_app`` listens to the app's session: its events collect the objects a
transaction created or touched (``Announced.touch`` in flack.models),
serialize them while their state is at hand, and emit ``updated_model``
only once the transaction has committed, so that clients never hear of a
change that was rolled back. Users and channels go to every client, a
message to the room of its channel (flack.realtime.rooms), a direct
conversation to its two users' connections alone. So every function that commits such a change
(flack.chat, flack.accounts, flack.presence, the preview task) broadcasts
it, and says so.
"""

import logging

from ..extensions import listen_once
from ..models import Channel, Message, User
from ..schemas import ChannelOut, MessageOut, UserOut
from .rooms import channel_room, user_room
from .server import socketio_if_any

SCHEMAS = {User: UserOut(), Channel: ChannelOut(), Message: MessageOut()}
PENDING_KEY = 'flack.updated_models'
EMITTED_KEY = 'flack.emitted'

log = logging.getLogger(__name__)


def init_app(app, session):
    """Broadcast the changes ``app`` commits on ``session`` (a scoped session)."""
    # The same functions for every app (registered once): each commit is
    # emitted by the Socket.IO server of the app it ran in.
    listeners = [
        ('after_flush', _collect),
        ('after_commit', _emit),
        ('after_transaction_end', _deliver),
        ('after_soft_rollback', _discard),
    ]
    for name, listener in listeners:
        listen_once(session, name, listener)


def serialized(obj):
    """``obj`` (a user or a message) as its last broadcast carried it, else as it is now.

    A route or event answering with the object sends the same JSON, made once.
    """
    model = getattr(obj, '_broadcast_as', None)
    return model if model is not None else SCHEMAS[type(obj)].dump(obj)


def _collect(session, flush_context):
    pending = session.info.setdefault(PENDING_KEY, {})
    for obj in list(session.new) + list(session.dirty):
        schema = SCHEMAS.get(type(obj))
        if schema is not None and (obj.take_touched() or obj in session.new):
            model = schema.dump(obj)
            obj._broadcast_as = model
            pending[(type(obj).__name__, obj.id)] = (model, _audience(obj))


def _audience(obj):
    """The rooms that hear of ``obj``; None for every client."""
    if isinstance(obj, Message):
        return channel_room(obj.channel_id)
    if isinstance(obj, Channel) and obj.direct:
        return [user_room(user_id) for user_id in obj.user_ids]
    return None


def _emit(session):
    server = socketio_if_any()
    if server is None or server.server is None:  # a command-line process with no Socket.IO
        session.info.pop(PENDING_KEY, None)
        return
    for (class_name, _), (model, to) in session.info.pop(PENDING_KEY, {}).items():
        try:
            server.emit('updated_model', {'class': class_name, 'model': model}, to=to)
            session.info[EMITTED_KEY] = True
        except Exception:
            # The change is stored; clients that missed the event find it
            # when they read again with updated_since after reconnecting.
            log.exception('event=broadcast_failed class=%s id=%s', class_name, model.get('id'))


def _deliver(session, transaction):
    # Once the database connection is back in the pool, let the client
    # connections send what was queued for them before this request goes
    # on; otherwise every other request that is ready would run first.
    if session.info.pop(EMITTED_KEY, False):
        server = socketio_if_any()
        if server is not None:
            server.sleep(0)


def _discard(session, previous_transaction):
    session.info.pop(PENDING_KEY, None)
