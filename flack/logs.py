"""Logs: stdout, one line per event, ``key=value`` pairs a log drain can parse.

A client can put almost anything in what gets logged (a path, a header, an
address taken from ``X-Forwarded-For``): every value is written as one token,
so that none can end the line, add a pair, or hide as a terminal escape.
"""

import io
import json
import logging
import re
import sys
from collections.abc import Mapping

# Characters no log line holds as they are: C0 and C1 controls (newlines,
# terminal escapes), the Unicode line and paragraph separators (line breaks
# to many readers), the bidirectional and invisible format characters (which
# make a line read differently from what it holds), and lone surrogates
# (which cannot be written as UTF-8).
_CONTROL = r'\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff'
_NEEDS_QUOTES = re.compile(rf'[\s"=\\{_CONTROL}]')
_ESCAPED = re.compile(f'[{_CONTROL}]')
# One value: bare (what quote() leaves bare) or a JSON string with every
# control character escaped.
_VALUE = rf'(?:"(?:[^"\\{_CONTROL}]|\\[^{_CONTROL}])*"|[^\s"=\\{_CONTROL}]*)'
# A message written as pairs (event=... key="...") is kept as it is.
_PAIRS = re.compile(rf'\w+={_VALUE}(?: \w+={_VALUE})*')


class Token(str):
    """Text ``quote`` made: one value of a log line, not to be quoted again."""


def quote(value, always=False):
    """``value`` as one token: quoted and escaped when it holds spaces, quotes,
    ``=``, backslashes or control characters, or ``always``."""
    text = str(value)
    if text and not always and not _NEEDS_QUOTES.search(text):
        return Token(text)
    # JSON string syntax: quotes and backslashes escaped, C0 controls (CR, LF)
    # as \r, \n or \u00XX; then the other control characters as \uXXXX.
    escaped = json.dumps(text, ensure_ascii=False)
    return Token(_ESCAPED.sub(lambda match: f'\\u{ord(match.group()):04x}', escaped))


def value_token(value):
    """``value`` as a pairs message holds it: numbers as they are (for ``%d``
    and ``%.1f``), anything else quoted."""
    if isinstance(value, Token) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    return quote(value)


class _Tokens(Mapping):
    """A mapping's values as tokens, for messages with named fields (gunicorn's access line)."""

    def __init__(self, values):
        self.values = values

    def __getitem__(self, key):
        return value_token(self.values[key])

    def __iter__(self):
        return iter(self.values)

    def __len__(self):
        return len(self.values)


def _pairs_message(record):
    """The record's message as ``key=value`` pairs, or None if it is none.

    The arguments are quoted before they go into the message: a client's
    text (``1.2.3.4 level=ERROR``, say, as an address from X-Forwarded-For)
    stays one value instead of adding pairs.
    """
    if isinstance(record.msg, str) and record.args:
        args = record.args
        tokens = _Tokens(args) if isinstance(args, Mapping) else tuple(value_token(arg) for arg in args)
        try:
            message = record.msg % tokens
        except (TypeError, ValueError, KeyError):
            return None
    else:
        message = record.getMessage()
    return message if _PAIRS.fullmatch(message) else None


class KeyValueFormatter(logging.Formatter):
    """``time=... level=... logger=...`` then the message's own pairs, or ``msg="..."``."""

    def format(self, record):
        message = _pairs_message(record)
        fields = [
            f'time={self.formatTime(record, "%Y-%m-%dT%H:%M:%S")}',
            f'level={record.levelname}',
            f'logger={record.name}',
            message if message is not None else f'msg={quote(record.getMessage())}',
        ]
        if record.exc_info:
            # A traceback stays on the event's one line, its newlines escaped.
            fields.append(f'exception={quote(self.formatException(record.exc_info))}')
        return ' '.join(fields)


class DropMessages(logging.Filter):
    """Drops the records whose message starts with one of ``prefixes``: notices
    a library repeats at every start although they are answered elsewhere."""

    def __init__(self, prefixes=()):
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record):
        return not record.getMessage().startswith(self.prefixes)


class LogStream(io.TextIOBase):
    """A writable text file whose every write becomes one log record.

    For code that reports by writing text to a stream rather than by logging,
    such as WSGI's ``wsgi.errors``: written as is, such text has no
    ``key=value`` form, and text written without a newline glues onto the
    next log line. ``quiet`` holds patterns of known harmless text, logged at
    DEBUG rather than WARNING.
    """

    def __init__(self, logger, quiet=()):
        self.logger = logger
        self.quiet = [re.compile(pattern) for pattern in quiet]

    def writable(self):
        return True

    def write(self, text):
        message = text.strip()
        if message:
            harmless = any(pattern.search(message) for pattern in self.quiet)
            self.logger.log(logging.DEBUG if harmless else logging.WARNING, message)
        return len(text)


class _StdoutHandler(logging.StreamHandler):
    """The one handler Flack installs; replaced, not added to, when an app is made again."""


def configure_logging(level):
    """Send every log line to stdout, Flack's at ``level``, libraries' at INFO or above."""
    handler = _StdoutHandler(sys.stdout)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries' DEBUG lines (markdown-it's parser trace, say) would drown Flack's own.
    root.setLevel(max(logging.getLevelName(level), logging.INFO))
    logging.getLogger('flack').setLevel(level)
    # python-socketio and python-engineio give their loggers a stderr handler
    # of their own, which writes each of their lines a second time, raw,
    # unless the logger already has a level when the server is made. Their
    # INFO lines trace every packet; their errors are what is worth a line.
    for name in ('socketio.server', 'engineio.server'):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Python prints warnings to stderr over several lines (Celery's worker
    # warns so when run as root); as log records each is one line.
    logging.captureWarnings(True)
