"""The REST API under /api."""

from apiflask import APIBlueprint

bp = APIBlueprint('api', __name__, url_prefix='/api')

from . import messages, tokens, users  # noqa: E402,F401  (routes register on bp)
