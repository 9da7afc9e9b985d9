"""The web process's WSGI application, for gunicorn.

gunicorn's eventlet or gevent worker has monkey-patched the process by the
time this module is imported.
"""

from dotenv import load_dotenv

from . import create_app

load_dotenv()
app = create_app()
app.extensions['flack.background'].start_periodic()
