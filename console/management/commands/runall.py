"""Starts everything the console needs in the foreground, keeps it running,
and stops all of it.

`make run` ends here. Each process gets its own session (so a Ctrl-C reaches
only this supervisor, which then stops them in order) and dies with the
supervisor even if the supervisor is killed outright (PR_SET_PDEATHSIG).

A child that exits on its own (a crash, kill -9, the OOM killer) is started
again, alone, with one log line: after 1 s, doubling while it keeps dying
within a minute of its start, up to 30 s. Whatever its process group left
behind (gunicorn's or Celery's children, holding the port or a lock) is
killed first. The others keep serving; only SIGINT or SIGTERM stops all.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from clusters.management.commands.seed_demo import DEMO_USER
from fronts.credentials import front_credential_create
from fronts.models import FrontCredential
from runtimes.processes import die_with_parent

# The credential `make run` gives its own front.
INTERNAL_FRONT = "runall"

_STOP_GRACE_SECONDS = 10
_RESTART_FIRST_SECONDS = 1.0
_RESTART_MAX_SECONDS = 30.0
# A child that ran this long before dying is restarted after the first delay again.
_STABLE_SECONDS = 60.0


class Child:
    def __init__(self, name: str, command: list[str], env: dict | None = None):
        self.name, self.command, self.env = name, command, env
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.delay = 0.0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, cwd=settings.BASE_DIR, env=self.env, start_new_session=True, preexec_fn=die_with_parent
        )
        self.started, self.restart_at = time.monotonic(), None

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def schedule_restart(self) -> float:
        """Clears what the dead child's group left behind; returns the delay before it starts again."""
        _kill_group(self.process.pid)
        ran = time.monotonic() - self.started
        self.delay = (
            _RESTART_FIRST_SECONDS if ran >= _STABLE_SECONDS or not self.delay
            else min(_RESTART_MAX_SECONDS, self.delay * 2)
        )
        self.restart_at = time.monotonic() + self.delay
        return self.delay


class Command(BaseCommand):
    help = (
        "Runs the web server, the Celery worker, beat, the data plane and (with a Qdrant binary) "
        "the node supervisor until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.RUN_HOST)
        parser.add_argument("--port", type=int, default=settings.RUN_PORT)

    def handle(self, *args, host: str, port: int, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        celery = [sys.executable, "-m", "celery", "-A", "console"]
        if settings.DEBUG:
            web = [*manage, "runserver", f"{host}:{port}", "--noreload"]
        else:
            # Threads: a key write waits (up to DATAPLANE_CONFIRM_SECONDS) for
            # the fronts, which ask this same server for the change meanwhile;
            # and each front's long-poll holds one (up to KEYSET_LONG_POLLS per
            # worker), so the pages keep 8 of their own.
            threads = 8 + settings.KEYSET_LONG_POLLS
            # On stop, a front's long-poll (up to DATAPLANE_LONG_POLL_SECONDS) would hold its
            # worker until killed at _STOP_GRACE_SECONDS; 2 s lets a page's request finish, and
            # a front whose long-poll is cut polls again.
            web = [sys.executable, "-m", "gunicorn", "console.wsgi", "--bind", f"{host}:{port}",
                   "--workers", "2", "--worker-class", "gthread", "--threads", str(threads), "--access-logfile", "-",
                   "--graceful-timeout", "2"]
        commands = {
            "web": web,
            "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
            # Runs the sweeper that re-dispatches operations nobody works on.
            "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
            # Every cluster's Qdrant endpoint (dataplane/), on DATAPLANE_PORT.
            "dataplane": [sys.executable, "-m", "dataplane"],
        }
        if settings.QDRANT_BINARY:
            # The nodes of `qdrant` clusters: what the rows say should run
            # (clusters/nodes.py), reconciled every second. The nodes die with
            # it; started again, it starts them on their storage.
            commands["nodes"] = [
                sys.executable, "-m", "runtimes.supervisor", "--desired", "clusters.nodes:desired_clusters",
                "--report", "clusters.nodes:node_seen", "--binary", settings.QDRANT_BINARY,
                "--root", str(settings.NODES_DIR),
            ]
        # Counters of processes from a previous run would be summed with this run's (console/metrics.py).
        shutil.rmtree(settings.PROMETHEUS_MULTIPROC_DIR, ignore_errors=True)
        Path(settings.PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
        # The front's metrics on the console's setting (0: none; the front reads an empty value as unset).
        metrics = {"DATAPLANE_METRICS_PORT": str(settings.DATAPLANE_METRICS_PORT or "")}
        envs = {"dataplane": os.environ | self._front_contract(host, port) | metrics}
        self.children = [Child(name, command, envs.get(name)) for name, command in commands.items()]
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        for child in self.children:
            child.start()
        url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"
        announced = False
        while not stopping:
            for child in self.children:
                if child.exited() and child.restart_at is None:
                    status = child.process.returncode
                    delay = child.schedule_restart()
                    self.stderr.write(f"{child.name} exited with status {status}; restarting it in {delay:g} s")
                elif child.restart_at is not None and time.monotonic() >= child.restart_at and not stopping:
                    child.start()
            if not announced and not stopping and _listening(host, port):
                password = settings.DEMO_PASSWORD or "(the one seed_demo printed when it created the user)"
                self.stdout.write(
                    f"\nVector Console is running at {url}\n"
                    f"Log in as {DEMO_USER} / {password}\n"
                    # https when the data plane serves TLS (docs/operating/tls.md)
                    f"Clusters answer at {urlsplit(settings.CLUSTER_ENDPOINT_URL).scheme}://localhost:"
                    f"{settings.DATAPLANE_PORT}/ (the data plane)\n"
                    + (f"The front's Prometheus metrics: http://{_url_host(settings.DATAPLANE_METRICS_HOST)}:"
                       f"{settings.DATAPLANE_METRICS_PORT}/metrics\n" if settings.DATAPLANE_METRICS_PORT else "")
                    + "Press Ctrl-C to stop.\n"
                )
                announced = True
            time.sleep(0.2)
        self._stop_all()

    @staticmethod
    def _front_contract(host: str, port: int) -> dict:
        """This host's front reads the key set from this console like any other
        front: over the contract, with a credential of its own, made anew at
        each start (the previous one is dropped)."""
        FrontCredential.objects.filter(name=INTERNAL_FRONT).delete()
        _front, credential = front_credential_create(name=INTERNAL_FRONT)
        address = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
        return {"KEYSET_URL": f"http://{address}:{port}", "KEYSET_CREDENTIAL": credential}

    def _stop_all(self) -> None:
        # TERM to each leader only: gunicorn and celery then stop their own
        # workers gracefully; what is left of the group (or all of it, if the
        # leader hangs) is killed after. A child waiting to be restarted was
        # cleared already.
        processes = [child.process for child in self.children if child.process and child.restart_at is None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(process.pid)  # what is left of it, or all of it if it hung
            process.wait()
        self.stdout.write("Stopped.")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host != "0.0.0.0" else "127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
