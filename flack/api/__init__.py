"""The REST API under /api."""

from apiflask import APIBlueprint
from flask import current_app

from ..auth import refuse_unreadable_authorization

bp = APIBlueprint('api', __name__, url_prefix='/api')
# A malformed Authorization header is a 401 on every route, open ones included.
bp.before_request(refuse_unreadable_authorization)

# How the reads that take an optional token are documented: Bearer, or no
# credentials at all (the empty requirement); an invalid token is still a 401.
OPTIONAL_TOKEN = [{'BearerAuth': []}, {}]


def json_response(body):
    """A response carrying ``body``, JSON bytes made beforehand (a cached listing).
    APIFlask passes a Response on as it is."""
    return current_app.response_class(body, mimetype=current_app.json.mimetype)


def require_bodies_with_required_fields(spec):
    """Mark a request body as required where its schema has required fields.

    APIFlask documents every body as optional, which tells clients that a
    request without one is valid; here it is a 400 (a missing field).
    """
    schemas = spec['components']['schemas']
    for item in spec['paths'].values():
        for operation in item.values():
            body = operation.get('requestBody') if isinstance(operation, dict) else None
            for media in (body or {}).get('content', {}).values():
                name = media['schema'].get('$ref', '').rpartition('/')[2]
                if schemas.get(name, {}).get('required'):
                    body['required'] = True
    return spec


bp.record_once(lambda state: state.app.spec_processor(require_bodies_with_required_fields))

from . import channels, messages, tokens, users  # noqa: E402,F401  (routes register on bp)
