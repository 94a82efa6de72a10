"""What each pytest-xdist worker (`make test` runs the suite in several, see
docs/development/index.md) keeps to itself, set in its environment before
Django reads the settings and inherited by every process a test starts:

- VAR_DIR: var/tests/<worker>/. Two workers sharing var/ would see each
  other's metrics (console/metrics.py sums every file of the directory, so a
  scrape counted the other worker's requests), wake each other's long-polls
  (the key set's marker file, fronts/changelog.py) and share a broker
  directory. Its secrets.env is a link to the one `make secrets` wrote.
- QDRANT_NODE_PORTS: worker gwN takes the Nth of as many equal parts of the
  range as there are workers. A node down in a restart test keeps its ports
  only while no one else can take them (runtimes/base.py); another worker's
  nodes could.
- REDIS_URL, when set: worker gwN uses the URL's database + N, so a Redis
  holds each worker's broker queues and results apart (REDIS_URL=…/1 with
  -n 3 uses databases 1, 2 and 3).

The test databases need nothing here: SQLite's lives under VAR_DIR, and
pytest-django suffixes PostgreSQL's with the worker's name.

Loaded with -p (pytest.ini): pytest-django imports the settings before any
conftest is read.
"""

import os
from urllib.parse import urlsplit, urlunsplit

import pytest

from console.env import Env, var_dir
from runtimes.base import NODE_PORTS


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return  # not under xdist: var/ and REDIS_URL as they are
    shared = var_dir()
    own = shared / "tests" / worker
    own.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets = own / "secrets.env"
    if (shared / "secrets.env").exists() and not secrets.is_symlink():
        secrets.symlink_to(shared / "secrets.env")
    os.environ["VAR_DIR"] = str(own)
    # The metrics directory follows VAR_DIR unless given (console/settings.py), as the worker's own.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    index, count = int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    ports = part(Env().port_range("QDRANT_NODE_PORTS", default=NODE_PORTS), index, count)
    os.environ["QDRANT_NODE_PORTS"] = f"{ports.start}-{ports.stop - 1}"
    if redis_url := os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = redis_database(redis_url, index)


def part(ports: range, index: int, count: int) -> range:
    """The `index`th of `count` equal parts of `ports`."""
    size = len(ports) // count
    return ports[index * size:(index + 1) * size]


def redis_database(url: str, offset: int) -> str:
    """The URL with its database number (0 when it names none) plus `offset`."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + offset}"))
