"""Every committed change to a user or a message is pushed to all clients.

Session events collect the objects a transaction created or touched
(``Broadcast.touch``), serialize them while their state is at hand, and
emit ``updated_model`` only once the transaction has committed, so that
clients never hear of a change that was rolled back.
"""

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import socketio
from .models import Message, User
from .schemas import MessageOut, UserOut

SCHEMAS = {User: UserOut(), Message: MessageOut()}
PENDING_KEY = 'flack.updated_models'
EMITTED_KEY = 'flack.emitted'

log = logging.getLogger(__name__)


@event.listens_for(Session, 'after_flush')
def _collect(session, flush_context):
    pending = session.info.setdefault(PENDING_KEY, {})
    for obj in list(session.new) + list(session.dirty):
        schema = SCHEMAS.get(type(obj))
        if schema is not None and (obj.take_touched() or obj in session.new):
            pending[(type(obj).__name__, obj.id)] = schema.dump(obj)


@event.listens_for(Session, 'after_commit')
def _emit(session):
    if socketio.server is None:  # a command-line process with no Socket.IO
        session.info.pop(PENDING_KEY, None)
        return
    for (class_name, _), model in session.info.pop(PENDING_KEY, {}).items():
        try:
            socketio.emit('updated_model', {'class': class_name, 'model': model})
            session.info[EMITTED_KEY] = True
        except Exception:
            # The change is stored; clients that missed the event find it
            # when they read again with updated_since after reconnecting.
            log.exception('event=broadcast_failed class=%s id=%s', class_name, model.get('id'))


@event.listens_for(Session, 'after_transaction_end')
def _deliver(session, transaction):
    # Once the database connection is back in the pool, let the client
    # connections send what was queued for them before this request goes
    # on; otherwise every other request that is ready would run first.
    if session.info.pop(EMITTED_KEY, False):
        socketio.sleep(0)


@event.listens_for(Session, 'after_soft_rollback')
def _discard(session, previous_transaction):
    session.info.pop(PENDING_KEY, None)
