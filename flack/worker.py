"""The Celery app of the worker and clock processes (the Procfile's ``worker`` and ``clock``)."""

from dotenv import load_dotenv

from . import create_app

load_dotenv()
app = create_app(process='worker')
celery = app.extensions['celery']
