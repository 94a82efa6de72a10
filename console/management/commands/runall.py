"""Starts everything the console needs in the foreground, and stops all of it.

`make run` ends here. Each process gets its own session (so a Ctrl-C reaches
only this supervisor, which then stops them in order) and dies with the
supervisor even if the supervisor is killed outright (PR_SET_PDEATHSIG).
"""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from console.management.commands.seed_demo import DEMO_USER
from console.processes import die_with_parent

_STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Runs the web server, the Celery worker, beat and the data plane until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        celery = [sys.executable, "-m", "celery", "-A", "console"]
        if settings.DEBUG:
            web = [*manage, "runserver", f"{host}:{port}", "--noreload"]
        else:
            web = [sys.executable, "-m", "gunicorn", "console.wsgi", "--bind", f"{host}:{port}",
                   "--workers", "2", "--access-logfile", "-"]
        commands = {
            "web": web,
            "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
            # Runs the sweeper that re-dispatches operations nobody works on.
            "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            # Every cluster's Qdrant endpoint (dataplane/), on DATAPLANE_PORT.
            "dataplane": [sys.executable, "-m", "dataplane"],
        }
        self.children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        for name, command in commands.items():
            self.children[name] = subprocess.Popen(
                command, cwd=settings.BASE_DIR, start_new_session=True, preexec_fn=die_with_parent
            )
        url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"
        announced = False
        exit_code = 0
        while not stopping:
            for name, child in self.children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping everything.")
                    stopping, exit_code = True, 1
            if not announced and not stopping and _listening(host, port):
                password = settings.DEMO_PASSWORD or "(the one seed_demo printed when it created the user)"
                self.stdout.write(
                    f"\nVector Console is running at {url}\n"
                    f"Log in as {DEMO_USER} / {password}\n"
                    f"Clusters answer at http://localhost:{settings.DATAPLANE_PORT}/ (the data plane)\n"
                    "Press Ctrl-C to stop.\n"
                )
                announced = True
            time.sleep(0.2)
        self._stop_all()
        sys.exit(exit_code)

    def _stop_all(self) -> None:
        # TERM to each leader only: gunicorn and celery then stop their own
        # workers gracefully; the whole group is killed only if that hangs.
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.stdout.write("Stopped.")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host != "0.0.0.0" else "127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
