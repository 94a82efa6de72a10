"""The ASGI entry point uvicorn imports in each front process."""

from dataplane.app import build_application

application = build_application()
