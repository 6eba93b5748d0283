"""WSGI entry point: `gunicorn wsgi:app`."""

from scheduler import create_app

app = create_app()
