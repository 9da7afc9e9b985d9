"""gunicorn's logger for the web process (gunicorn.conf.py's ``logger_class``).

gunicorn writes its access line by filling ``access_log_format`` with the
request's "atoms" (path, headers, status...) through ``atoms_wrapper_class``,
which only puts a backslash before double quotes: a ``%0d%0a`` in the path
(gunicorn decodes it to CR LF) or a header with spaces and ``=`` in it wrote
lines, or pairs, of the client's choosing. Here every atom is one value, as
flack.logs writes every value.
"""

from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.glogging import SafeAtoms

from .logs import quote, value_token

# Free text (request line, path, query string, referrer, user agent): always
# in quotes, path="/", as log drains' patterns look for it.
TEXT_ATOMS = {'r', 'U', 'q', 'f', 'a'}


class QuotedAtoms(SafeAtoms):
    """gunicorn's atoms (headers looked up in any case, ``-`` for a missing
    one), each value quoted by flack.logs instead of escaped gunicorn's way.

    Quoted as the format asks for them: gunicorn passes every request and
    response header and every environ entry (sockets and streams among
    them), of which the access line uses six.
    """

    def __init__(self, atoms):
        dict.__init__(self, atoms)

    def __getitem__(self, name):
        value = super().__getitem__(name)
        return quote(value, always=True) if name in TEXT_ATOMS else value_token(value)


class Logger(GunicornLogger):
    """gunicorn's own logger, with each atom of the access line quoted."""

    atoms_wrapper_class = QuotedAtoms
