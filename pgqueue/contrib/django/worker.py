"""The App that `pgqueue worker` runs for Django: importing this module sets Django up (from
DJANGO_SETTINGS_MODULE) and builds it, so

    DJANGO_SETTINGS_MODULE=mysite.settings pgqueue worker pgqueue.contrib.django.worker

runs the tasks of the task backend PGQUEUE_DJANGO_BACKEND (default "default") with Django's
settings, apps and database connections ready, as `python manage.py pgqueue_worker` does.
"""

from __future__ import annotations

import os

import django
from django.conf import settings

from pgqueue import ConfigurationError
from pgqueue.contrib.django.tasks import create_app

if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise ConfigurationError(
        "pgqueue.contrib.django.worker needs Django's settings: set DJANGO_SETTINGS_MODULE "
        "(e.g. DJANGO_SETTINGS_MODULE=mysite.settings)"
    )
django.setup()

app = create_app(os.environ.get("PGQUEUE_DJANGO_BACKEND", "default"))
