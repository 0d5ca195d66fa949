"""Django's task framework (django.tasks, Django 6.0+, Python 3.12+) on pgqueue: docs/django.md.

INSTALLED_APPS = [..., "pgqueue.contrib.django"]       # the pgqueue_worker command
TASKS = {"default": {"BACKEND": "pgqueue.contrib.django.PgQueueBackend"}}

DJANGO_SETTINGS_MODULE=mysite.settings pgqueue worker pgqueue.contrib.django.worker
python manage.py pgqueue_worker                          # the same, from manage.py

pip install "pgqueue[django]"
"""

from pgqueue.contrib.django.backend import PgQueueBackend

__all__ = ["PgQueueBackend"]
