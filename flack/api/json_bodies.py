"""Request bodies are decoded by flack.json_input, where a route reads one.

APIFlask reads a body through webargs, whose own decoder is Python's
``json`` with none of that module's bounds. Its ``json`` location is
loaded here instead: a body that breaks a rule is a 400 naming the field,
raised where ``@bp.input`` reads it, so after the route's authorization.
"""

from apiflask import HTTPError
from apiflask.schema_adapters.marshmallow import parser
from webargs import missing
from webargs.flaskparser import is_json_request

from ..json_input import InvalidJSON, decode


def init_app(app):
    """Use ``load_json`` for every JSON body APIFlask reads.

    webargs keeps its loaders per class, so this holds for the process; it
    is the same function for every app.
    """
    parser.location_loader('json')(load_json)


def load_json(request, schema):
    """The decoded body, or webargs' ``missing`` when there is none (as webargs' own loader)."""
    if not is_json_request(request):
        return missing
    body = request.get_data(cache=True)
    if not body:
        return missing
    try:
        return decode(body)
    except InvalidJSON as error:
        raise HTTPError(400, detail=error.detail()) from None
