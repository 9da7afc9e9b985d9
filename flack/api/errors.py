"""Every error as JSON: ``{"error": <short reason>, "message": <human text>}``."""

import logging

from apiflask import HTTPError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ..auth import CHALLENGE
from ..schemas import Error

log = logging.getLogger(__name__)

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
    if status >= 500:
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
