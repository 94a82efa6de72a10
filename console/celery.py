import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="console.ping")
def ping() -> str:
    """Answers from the worker process; `manage.py worker_check` waits for it."""
    return "pong"
