"""Framework integrations, each an optional extra that the core never imports:

- `pgqueue.contrib.fastapi`: `pip install "pgqueue[fastapi]"`, docs/fastapi.md
- `pgqueue.contrib.django`: `pip install "pgqueue[django]"` (Django 6, Python 3.12+), docs/django.md

They build only on pgqueue's public API, so they are adapters, never a second way in.
"""
