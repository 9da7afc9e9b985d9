"""Logs: stdout, one line per event, ``key=value`` pairs a log drain can parse."""

import io
import json
import logging
import re
import sys

# A message already written as pairs (event=... key="...") is kept as it is.
_PAIRS = re.compile(r'^\w+=("[^"]*"|\S*)( \w+=("[^"]*"|\S*))*$')


def quote(value):
    """``value`` as one token: escaped and quoted when it holds spaces, quotes or newlines."""
    text = str(value)
    if text and not re.search(r'[\s"=\\]', text):
        return text
    # JSON string syntax: quotes and backslashes escaped, newlines as \n.
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """``time=... level=... logger=...`` then the message's own pairs, or ``msg="..."``."""

    def format(self, record):
        message = record.getMessage()
        fields = [
            f'time={self.formatTime(record, "%Y-%m-%dT%H:%M:%S")}',
            f'level={record.levelname}',
            f'logger={record.name}',
            message if _PAIRS.match(message) else f'msg={quote(message)}',
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
