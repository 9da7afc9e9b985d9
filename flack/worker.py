"""The Celery app of the worker and clock processes (the Procfile's ``worker`` and ``clock``)."""

import logging
import os
import sys

from celery.apps import worker as celery_worker
from dotenv import load_dotenv

from . import create_app
from .config import exit_on_config_error
from .logs import KeyValueFormatter


def _say_as_log_line(message, file=None):
    """What Celery's signal handlers say as the worker stops ("Cold shutdown",
    ...), as one ``key=value`` line on stdout.

    Celery writes these notices straight to the file descriptor, between
    blank lines, because a signal handler must not wait for the logging
    lock; this writes the same way, only in the form of every other line.
    """
    record = logging.LogRecord(celery_worker.__name__, logging.INFO, __file__, 0, message, None, None)
    try:
        os.write(sys.__stdout__.fileno(), f'{KeyValueFormatter().format(record)}\n'.encode())
    except OSError:
        pass  # as Celery's own: a lost notice must not stop the shutdown


celery_worker.safe_say = _say_as_log_line

load_dotenv()
app = exit_on_config_error(create_app, process='worker')
celery = app.extensions['celery']
