"""Rate limits, all in one place: who may try how often.

Counted in memory in the embedded mode and in Redis when ``REDIS_URL`` is
set, so that a limit holds across every web process. A request over a limit
gets a JSON 429 with ``Retry-After``. ``RATELIMIT_ENABLED=0`` turns them off
(load tests).
"""

import hashlib
from dataclasses import dataclass

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .api.errors import RETRY_AFTER_SECONDS
from .nicknames import fold_nickname

TOO_MANY = 'Too many attempts in a short time; wait a little and try again.'
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, key_prefix='flack')


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


@dataclass(frozen=True)
class ConfiguredRate:
    """The rate a setting names, read from the app handling the request.

    The limiter is one for the process and keeps every limit put on a route,
    whichever app put it there: given the rate itself, a second app (the
    tests make many) would add its limits to the first one's. Equal for
    every app, the limits of a route stay one set.
    """

    setting: str

    def __call__(self):
        return current_app.config[self.setting]


def token_holder():
    """The poster, told apart by the hash of their token (one token per user)."""
    header = request.headers.get('Authorization', '')
    return 'token:' + hashlib.sha256(header.encode()).hexdigest()


def init_app(app):
    """Bind the limiter and put the limits on the routes they guard."""
    config = app.config
    if config['REDIS_URL']:
        config['RATELIMIT_STORAGE_URI'] = config['REDIS_URL']
        # On the process's bounded pool (flack.redis_client), not one more of its own.
        config['RATELIMIT_STORAGE_OPTIONS'] = {
            'connection_pool': app.extensions['flack.redis'].connection_pool
        }
        # While Redis is away, count in this process rather than fail the
        # request: a limit degrades, the service does not.
        config['RATELIMIT_IN_MEMORY_FALLBACK_ENABLED'] = True
        config['RATELIMIT_SWALLOW_ERRORS'] = True
    else:
        config['RATELIMIT_STORAGE_URI'] = 'memory://'
    # Flask runs after_request functions in the reverse order of
    # registration: registered before the limiter's, this runs after it.
    app.after_request(_outage_retry_after)
    limiter.init_app(app)
    # (setting, key, which answers count: None for every one)
    limits = {
        'api.new_token': [
            ('RATELIMIT_TOKENS_PER_ADDRESS', get_remote_address, None),
            # Checked before the sign-in and counted after it, by its answer:
            # sign-ins under way at once may pass it together, and the
            # per-address limit, counted before, bounds them.
            ('RATELIMIT_TOKENS_PER_NICKNAME', nickname_from_address, refused),
        ],
        'api.new_user': [('RATELIMIT_REGISTRATIONS_PER_ADDRESS', get_remote_address, None)],
        'api.new_message': [('RATELIMIT_POSTS_PER_USER', token_holder, None)],
    }
    for endpoint, rules in limits.items():
        view = app.view_functions[endpoint]
        for setting, key, counted in rules:
            rate = ConfiguredRate(setting)
            view = limiter.limit(rate, key_func=key, deduct_when=counted, error_message=TOO_MANY)(view)
        app.view_functions[endpoint] = view


def _outage_retry_after(response):
    """A 503's Retry-After says when the database may be back.

    Flask-Limiter sets Retry-After on every answer of a limited route, to
    the end of its window (up to a minute), keeping a larger value only.
    """
    if response.status_code == 503:
        response.headers['Retry-After'] = str(RETRY_AFTER_SECONDS)
    return response
