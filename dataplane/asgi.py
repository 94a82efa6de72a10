"""The ASGI entry point uvicorn imports in each data plane process."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django.setup()

from dataplane.app import build_application

application = build_application()
