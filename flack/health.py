"""Health probes: one per backing service of the mode, asked by ``/healthz``.

``create_app`` registers the probes of its mode: the database's always,
Redis's when scaled.
"""

from typing import Protocol

from flask import current_app
from redis import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

EXTENSION = 'flack.health'


class HealthProbe(Protocol):
    """A backing service, by the name ``/healthz`` reports it under."""

    name: str

    def answers(self) -> bool:
        """Whether the service answers now; never raises."""


class DatabaseProbe:
    """The database of the app handling the request."""

    name = 'database'

    def answers(self):
        try:
            db.session.execute(text('SELECT 1'))
            return True
        except SQLAlchemyError:
            db.session.rollback()
            return False


class RedisProbe:
    """Redis, on the process's pool (scaled mode)."""

    name = 'redis'

    def __init__(self, redis):
        self.redis = redis

    def answers(self):
        try:
            return self.redis.ping()
        except RedisError:
            return False


def init_app(app, health_probes):
    """Register ``health_probes`` as the services ``app`` depends on."""
    app.extensions[EXTENSION] = list(health_probes)


def probes(app=None) -> list[HealthProbe]:
    """The health probes of ``app`` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION]
