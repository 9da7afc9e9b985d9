"""Every error as JSON: ``{"error": <short reason>, "message": <human text>}``."""

import logging

from apiflask import HTTPError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ..auth import CHALLENGE
from ..extensions import db
from ..logs import quote
from ..schemas import Error

log = logging.getLogger(__name__)

# What the database driver raises when the server does not answer (stopped,
# restarting, failing over, unreachable), and what the pool raises when every
# connection stayed busy for its timeout (a reconnect storm): the request may
# well succeed a moment later, so it is a 503 with Retry-After, not a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
# Seconds a client should wait: about what a managed database's restart takes.
RETRY_AFTER_SECONDS = 5

SHORT_REASONS = {401: 'authentication required', 413: 'too large'}
# Sentences for errors raised without one of their own.
DEFAULT_MESSAGES = {
    400: 'The request could not be understood.',
    401: 'Sign in with a valid nickname and password, or send a valid token.',
    403: 'You are not allowed to do this.',
    404: 'There is nothing at this address.',
    405: 'This address does not accept that method.',
    413: 'The request is larger than the server accepts.',
    415: 'Send the body as JSON (Content-Type: application/json).',
    500: 'The server failed to answer this request.',
}


def init_app(app):
    """Answer every error of the application, API or not, with JSON."""
    # And describe that JSON in the OpenAPI document.
    app.config['HTTP_ERROR_SCHEMA'] = app.config['VALIDATION_ERROR_SCHEMA'] = Error
    app.error_processor(error_response)
    app.register_error_handler(HTTPException, _from_werkzeug)
    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, lambda error: error_response(database_unavailable(error)))
    # Runs before Flask-SQLAlchemy's own teardown (registered earlier, run later).
    app.teardown_appcontext(_close_session)


def _close_session(exception):
    """End the request's transaction, even on a connection the database dropped.

    A request that read, then lost its connection (the database restarted)
    before it ended, fails to roll back as its session closes: raised from
    the teardown, that would turn its answer, already made, into a 500. The
    failed rollback has invalidated the connection (the pool opens a new
    one), so closing again has nothing left to do.
    """
    if not db.session.registry.has():
        return
    try:
        db.session.close()
    except DATABASE_UNAVAILABLE as error:
        log.info(
            'event=database_connection_lost error=%s', type(getattr(error, 'orig', None) or error).__name__
        )
        db.session.close()


def database_unavailable(error):
    """The 503 to answer ``error`` with if the database does not answer, else None.

    Logs one WARNING line without a traceback: while the database is away,
    every request fails the same way, and the traceback says nothing new.
    """
    if not isinstance(error, DATABASE_UNAVAILABLE):
        return None
    cause = getattr(error, 'orig', None) or error
    first_line = str(cause).strip().split('\n', 1)[0]
    log.warning('event=database_unavailable error=%s detail=%s', type(cause).__name__, quote(first_line))
    busy = isinstance(error, PoolTimeout)
    reason = 'Every database connection is busy' if busy else 'The database does not answer'
    return HTTPError(
        503,
        message=f'{reason}; try again after Retry-After seconds.',
        headers={'Retry-After': str(RETRY_AFTER_SECONDS)},
    )


def _from_werkzeug(exception):
    headers = {k: v for k, v in exception.get_headers() if k.lower() != 'content-type'}
    message = exception.description if exception.description != type(exception).description else None
    # webargs reports a body that is not JSON at all this way.
    detail = (getattr(exception, 'data', None) or {}).get('messages')
    error = HTTPError(exception.code or 500, message=message, detail=detail, headers=headers)
    return error_response(error)


def error_response(error: HTTPError):
    """Turn an ``HTTPError`` (APIFlask's, or any HTTP exception) into JSON."""
    status = error.status_code
    reason = SHORT_REASONS.get(status) or HTTP_STATUS_CODES.get(status, 'error').lower()
    body = {'error': reason, 'message': _message(error)}
    if error.detail:
        body['detail'] = error.detail
    headers = dict(error.headers or {})
    if status == 401:
        headers['WWW-Authenticate'] = CHALLENGE
    if status >= 500 and status != 503:  # a 503 is logged where it is decided
        log.error('event=server_error status=%s', status)
    return body, status, headers


def _message(error):
    if error.detail:
        return 'Invalid input: ' + '; '.join(_flatten(error.detail))
    if error.message == HTTP_STATUS_CODES.get(error.status_code):
        return DEFAULT_MESSAGES.get(error.status_code, error.message)
    return error.message


def _flatten(detail, prefix=''):
    """Validation messages as 'field: problem' strings."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            # webargs nests by location ('json', 'query'); the field names matter.
            inner = '' if key in ('json', 'query', 'path', '_schema') else f'{prefix}{key}'
            yield from _flatten(value, f'{inner}.' if inner else prefix)
    elif isinstance(detail, list):
        for item in detail:
            yield from _flatten(item, prefix)
    else:
        yield f'{prefix[:-1]}: {detail}' if prefix else str(detail)
