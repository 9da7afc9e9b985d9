"""Who is calling: Basic auth to obtain a token, Bearer tokens for the rest.

The server keeps only a SHA-256 hash of each token, plus a random salt from
which the token is derived with the secret key (HMAC). A leaked database
therefore yields no usable token, yet a user who asks for a token while
holding a valid one gets that same token back, as the original API did.
"""

import base64
import functools
import hashlib
import hmac
import re
import secrets

from apiflask import HTTPBasicAuth, HTTPTokenAuth, abort
from flask import current_app, request
from sqlalchemy import inspect, select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from werkzeug.datastructures import Authorization

from .change_counters import cache
from .extensions import db
from .models import User, timestamp
from .nicknames import LONGEST_KEY, fold_nickname
from .presence import mark_seen

# Never "Basic": a Basic challenge makes browsers pop up a login dialog.
CHALLENGE = 'Bearer realm="Authentication Required"'
# Real tokens are 43 characters; anything far longer is not worth hashing.
LONGEST_TOKEN = 256
# What a Bearer credential may be (RFC 6750's b64token): one word, "=" only at its end.
BEARER_TOKEN = re.compile(r'[A-Za-z0-9\-._~+/]+=*')
MALFORMED = 'The Authorization header is malformed: send "Bearer <token>" (Basic to sign in), or none.'

# Token hash -> the holder's columns, while no user has changed: most
# requests then find their caller without a query.
HOLDERS_CACHE = {'name': 'token holders', 'table': 'users', 'size': 4096}


def read_authorization(header):
    """An Authorization header as ``(scheme, credentials)``, the scheme in lower
    case, if it is ``Bearer <token>`` or ``Basic <base64 of nickname:password>``;
    None for anything else: another scheme, no credentials, a token of several
    words, Basic credentials that do not decode."""
    # RFC 9110: the scheme, case-insensitive, then spaces, then the credentials.
    scheme, _, credentials = header.partition(' ')
    scheme, credentials = scheme.lower(), credentials.strip(' \t')
    if scheme == 'bearer' and BEARER_TOKEN.fullmatch(credentials):
        return scheme, credentials
    if scheme == 'basic':
        try:
            if b':' in base64.b64decode(credentials, validate=True):
                return scheme, credentials
        except ValueError:  # not base64, or not ASCII
            pass
    return None


def refuse_unreadable_authorization():
    """The API's ``before_request``: an Authorization header that holds no
    credentials (``read_authorization``) is a 401 on every route, those that
    take none included.

    Flask-HTTPAuth reads such a header as no credentials at all, and a route
    would answer as if the caller were anonymous: the client would never
    learn that what it sends does not work. Only a request without the
    header is anonymous. Well-formed credentials a route does not take are
    the route's to refuse (``BearerTokenAuth``, ``basic_auth``) or ignore.
    """
    header = request.headers.get('Authorization')
    if header is not None and read_authorization(header) is None:
        abort(401, message=MALFORMED)


class BearerTokenAuth(HTTPTokenAuth):
    """Bearer tokens, where an Authorization header is either ``Bearer <token>`` or absent.

    Flask-HTTPAuth reads a header of another scheme (Basic credentials, say)
    as no credentials, and a route with an optional token would answer as if
    the caller were anonymous. Here it is a 401, as an invalid token is.
    """

    def get_auth(self):
        header = request.headers.get('Authorization')
        if header is None:
            return None
        credentials = read_authorization(header)
        if credentials is None or credentials[0] != 'bearer':
            abort(401, message='Send a token as "Authorization: Bearer <token>", or no Authorization header.')
        return Authorization('bearer', token=credentials[1])


basic_auth = HTTPBasicAuth(description='nickname:password, only to obtain a token')
token_auth = BearerTokenAuth(scheme='Bearer', description='A token from POST /api/tokens')


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(user, salt):
    key = current_app.config['SECRET_KEY'].encode()
    digest = hmac.new(key, f'flack-token:{user.id}:{salt}'.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b'=').decode()


def issue_token(user):
    """Return the user's token, creating one if they hold none that is valid.

    The caller commits the session.
    """
    if user.token_salt is not None and (user.token_expires_at or 0) > timestamp():
        token = _derive(user, user.token_salt)
        if hmac.compare_digest(_hash(token), user.token_hash or ''):
            return token
    user.token_salt = secrets.token_hex(32)
    token = _derive(user, user.token_salt)
    user.token_hash = _hash(token)
    user.token_expires_at = timestamp() + current_app.config['TOKEN_LIFETIME']
    return token


def revoke_token(user):
    """Make the user's token stop working. The caller commits the session."""
    user.token_hash = None
    user.token_salt = None
    user.token_expires_at = None


def user_for_token(token):
    """The user holding ``token``, or None."""
    if not isinstance(token, str) or not token or len(token) > LONGEST_TOKEN:
        return None
    token_hash = _hash(token)
    columns = cache(**HOLDERS_CACHE).get(token_hash, functools.partial(_holder_columns, token_hash))
    if columns is None or (columns['token_expires_at'] or 0) <= timestamp():
        return None
    return _attached_user(columns)


def _holder_columns(token_hash):
    # Looked up by its hash, so no comparison of secrets happens in Python.
    user = db.session.scalar(select(User).where(User.token_hash == token_hash))
    if user is None:
        return None
    return {column.key: getattr(user, column.key) for column in inspect(User).column_attrs}


def _attached_user(columns):
    """A User of this request's session made from known columns, without a query."""
    known = db.session.identity_map.get(identity_key(User, columns['id']))
    if known is not None:
        return known
    user = User(**columns)
    make_transient_to_detached(user)
    db.session.add(user)
    return user


def find_user(nickname):
    """The user whose nickname reads the same as ``nickname`` (flack.nicknames), or None."""
    # No stored nickname is that long or holds a NUL (PostgreSQL cannot store
    # one, and its driver raises on one): answer without asking the database.
    if len(nickname) > LONGEST_KEY or '\x00' in nickname:
        return None
    return db.session.scalar(select(User).where(User.nickname_key == fold_nickname(nickname)))


@basic_auth.verify_password
def verify_password(nickname, password):
    """Sign in under any nickname that reads the same as the account's, with its password."""
    if not nickname or not password:
        return None
    user = find_user(nickname)
    if user is None or not user.check_password(password):
        return None
    if user.suspended_at is not None:  # told only to who holds the password
        abort(403, message='This account is suspended by an administrator.')
    return user


@token_auth.verify_token
def verify_token(token):
    """Resolve the Bearer token (only called with one); a bad one is a 401.

    Routes with an optional token still reject a token that does not work,
    so a client learns at once that it has to sign in again.
    """
    user = user_for_token(token)
    if user is None:
        abort(401, message='The token is not valid.')
    mark_seen(user)
    return user


def authorize(find):
    """Decorate a view that acts on one resource of its caller's: ``find(caller, id)``
    returns it, or aborts with 404 (none) or 403 (someone else's); the view
    receives it in place of the id.

    Goes between ``auth_required`` and ``input``. APIFlask's ``input``
    parses and validates the body before the view runs: checked in the
    view, a request to change someone else's resource with a bad body would
    be a 400 describing that body. Checked first, it learns nothing but the
    403 (or 404).
    """

    def decorator(view):
        @functools.wraps(view)
        def authorized(id, **kwargs):
            return view(find(token_auth.current_user, id), **kwargs)

        return authorized

    return decorator
