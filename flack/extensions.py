"""The database extension, created unbound here and bound in ``create_app``.

The models are declared on it, so it is one for the process; everything
else an app holds (its Socket.IO server, adapters, caches) is made per app
in ``create_app``."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# Objects keep their values after a commit: a request that has just
# written a message sends it back without reading it again.
db = SQLAlchemy(model_class=Base, session_options={'expire_on_commit': False})


def listen_once(session, name, listener, **options):
    """Register ``listener`` for the session event ``name``, unless it already is.

    The session is the process's (``db.session``): a listener registered by
    each app's ``init_app`` must run once per commit, not once per app.
    """
    if not event.contains(session, name, listener):
        event.listen(session, name, listener, **options)
