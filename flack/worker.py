"""The Celery app of the worker and clock processes (the Procfile's ``worker`` and ``clock``)."""

from dotenv import load_dotenv

from . import create_app
from .config import exit_on_config_error

load_dotenv()
app = exit_on_config_error(create_app, process='worker')
celery = app.extensions['celery']
