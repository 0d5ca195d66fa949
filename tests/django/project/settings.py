"""Settings of the test project (DJANGO_SETTINGS_MODULE=tests.django.project.settings).

The database comes from SHOP_DATABASE_URL (a postgresql:// URL); tests/django/conftest.py sets it
and points each test at a database of its own.
"""

import os
from urllib.parse import unquote, urlsplit

_url = urlsplit(
    os.environ.get("SHOP_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": unquote(_url.username or ""),
        "PASSWORD": unquote(_url.password or ""),
        "HOST": _url.hostname or "",
        "PORT": str(_url.port or ""),
    }
}

TASKS = {
    "default": {
        "BACKEND": "pgqueue.contrib.django.PgQueueBackend",
        "QUEUES": ["default", "mail"],
        "OPTIONS": {"MAX_ATTEMPTS": 1},
    }
}

INSTALLED_APPS = ["pgqueue.contrib.django", "tests.django.shop"]
ROOT_URLCONF = "tests.django.project.urls"
MIDDLEWARE: list[str] = []
SECRET_KEY = "only-for-the-tests"
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
