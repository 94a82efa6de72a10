"""The ASGI entry point uvicorn imports in each data plane process."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django.setup()

from dataplane.app import build_application  # noqa: E402 - needs django.setup() first

application = build_application()
