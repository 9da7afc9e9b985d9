"""Flack: a real-time chat service.

``create_app`` reads the settings, binds the extensions and picks the
adapters for the mode the settings select; the handlers never ask which.
"""


def create_app(environ=None, process='web'):
    """Build the application from environment variables.

    ``environ`` defaults to the process environment; tests pass their own.
    ``process`` is ``'web'``, ``'worker'`` for the Celery processes, or
    ``'cli'`` for the command line (migrations).
    """
    # Imported on call, not with the package: gunicorn reads flack.config in
    # its master process, before the worker monkey-patches the standard
    # library, and nothing else should be imported that early.
    from .app import build_app

    return build_app(environ, process)
