"""Rate limits, all in one place: who may try how often.

Counted in memory in the embedded mode and in Redis when ``REDIS_URL`` is
set, so that a limit holds across every web process. A request over a limit
gets a JSON 429 with ``Retry-After``. ``RATELIMIT_ENABLED=0`` turns them off
(load tests).
"""

import hashlib

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .api.errors import RETRY_AFTER_SECONDS
from .nicknames import fold_nickname

TOO_MANY = 'Too many attempts in a short time; wait a little and try again.'
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, key_prefix='flack')


def nickname_in_credentials():
    """Guessing one account's password from many addresses still hits a limit,
    and so does guessing it through lookalikes of its nickname."""
    credentials = request.authorization
    nickname = credentials.username if credentials and credentials.username else ''
    return f'nickname:{fold_nickname(nickname) or "-"}'


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
    limits = {
        'api.new_token': [
            (config['RATELIMIT_TOKENS_PER_ADDRESS'], get_remote_address),
            (config['RATELIMIT_TOKENS_PER_NICKNAME'], nickname_in_credentials),
        ],
        'api.new_user': [(config['RATELIMIT_REGISTRATIONS_PER_ADDRESS'], get_remote_address)],
        'api.new_message': [(config['RATELIMIT_POSTS_PER_USER'], token_holder)],
    }
    for endpoint, rules in limits.items():
        view = app.view_functions[endpoint]
        for limit, key in rules:
            view = limiter.limit(limit, key_func=key, error_message=TOO_MANY)(view)
        app.view_functions[endpoint] = view


def _outage_retry_after(response):
    """A 503's Retry-After says when the database may be back.

    Flask-Limiter sets Retry-After on every answer of a limited route, to
    the end of its window (up to a minute), keeping a larger value only.
    """
    if response.status_code == 503:
        response.headers['Retry-After'] = str(RETRY_AFTER_SECONDS)
    return response
