"""Rate limits on the REST routes: who may try how often.

A request over a limit gets a JSON 429 with ``Retry-After``.
``RATELIMIT_ENABLED=0`` turns them off (load tests), and the Socket.IO
events' budget too: that one is counted per connection, in the process
holding it, by flack.realtime.socket_guard.

Two storages, one per mode, each a function returning the Flask-Limiter
settings that select it: ``memory_storage`` counts in the process (embedded
mode), ``redis_storage`` in Redis, so that a limit holds across every web
process (scaled mode). ``create_app`` puts its mode's in the app's config
before ``init_app`` binds the limiter.
"""

import hashlib

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .api.errors import RETRY_AFTER_SECONDS
from .nicknames import fold_nickname

TOO_MANY = 'Too many attempts in a short time; wait a little and try again.'
EXTENSION = 'flack.rate_limits'


def nickname_from_address():
    """One nickname, lookalikes included, signed in to from one address.

    The address is part of the key so that no one can lock a user out: the
    failures of others, from their own addresses, leave the user's free, and
    no one can borrow the user's address by forging ``X-Forwarded-For``: it
    is the one ``TRUSTED_PROXY_HOPS`` yields (flack.security). Each of an
    attacker's addresses is held by its per-address limit as well.
    """
    credentials = request.authorization
    nickname = credentials.username if credentials and credentials.username else ''
    # No address holds a space, so the pair reads back one way only.
    return f'nickname:{get_remote_address()} {fold_nickname(nickname) or "-"}'


def refused(response):
    """Whether a sign-in failed: only wrong credentials are counted per
    nickname, so signing in often with the right password costs nothing."""
    return response.status_code == 401


def token_holder():
    """The poster, told apart by the hash of their token (one token per user)."""
    header = request.headers.get('Authorization', '')
    return 'token:' + hashlib.sha256(header.encode()).hexdigest()


def memory_storage():
    """Count in this process: the embedded mode's one process sees every request."""
    return {'RATELIMIT_STORAGE_URI': 'memory://'}


def redis_storage(redis):
    """Count in Redis, on the process's bounded pool ``redis`` (flack.redis_client)."""
    return {
        # The pool decides where; the URI only names the kind of storage.
        'RATELIMIT_STORAGE_URI': 'redis://',
        'RATELIMIT_STORAGE_OPTIONS': {'connection_pool': redis.connection_pool},
        # While Redis is away, count in this process rather than fail the
        # request: a limit degrades, the service does not.
        'RATELIMIT_IN_MEMORY_FALLBACK_ENABLED': True,
        'RATELIMIT_SWALLOW_ERRORS': True,
    }


def init_app(app):
    """Give ``app`` a limiter of its own, on the storage in its config, and
    put the limits on the routes they guard."""
    # Flask runs after_request functions in the reverse order of
    # registration: registered before the limiter's, this runs after it.
    app.after_request(_outage_retry_after)
    limiter = Limiter(key_func=get_remote_address, headers_enabled=True, key_prefix='flack')
    limiter.init_app(app)
    # Held here: Flask-Limiter's decorators keep only a weak reference to it.
    app.extensions[EXTENSION] = limiter
    # (setting, key, which answers count: None for every one)
    posts = [('RATELIMIT_POSTS_PER_USER', token_holder, None)]
    limits = {
        'api.new_token': [
            ('RATELIMIT_TOKENS_PER_ADDRESS', get_remote_address, None),
            # Checked before the sign-in and counted after it, by its answer:
            # sign-ins under way at once may pass it together, and the
            # per-address limit, counted before, bounds them.
            ('RATELIMIT_TOKENS_PER_NICKNAME', nickname_from_address, refused),
        ],
        'api.new_user': [('RATELIMIT_REGISTRATIONS_PER_ADDRESS', get_remote_address, None)],
        # One budget for a user's posts, in general or any channel.
        'api.new_message': posts,
        'api.new_channel_message': posts,
        'api.new_channel': [('RATELIMIT_CHANNELS_PER_USER', token_holder, None)],
    }
    for endpoint, rules in limits.items():
        view = app.view_functions[endpoint]
        for setting, key, counted in rules:
            rate = app.config[setting]
            # The routes under one setting share one count (posts), named by the first.
            scope = next(name for name, others in limits.items() if (setting, key, counted) in others)
            view = limiter.shared_limit(
                rate, scope=scope, key_func=key, deduct_when=counted, error_message=TOO_MANY
            )(view)
        app.view_functions[endpoint] = view


def _outage_retry_after(response):
    """A 503's Retry-After says when the database may be back.

    Flask-Limiter sets Retry-After on every answer of a limited route, to
    the end of its window (up to a minute), keeping a larger value only.
    """
    if response.status_code == 503:
        response.headers['Retry-After'] = str(RETRY_AFTER_SECONDS)
    return response
