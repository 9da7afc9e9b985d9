"""Extension objects, created unbound here and bound in ``create_app``."""

from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# Objects keep their values after a commit: a request that has just
# written a message sends it back without reading it again.
db = SQLAlchemy(model_class=Base, session_options={'expire_on_commit': False})
socketio = SocketIO()
