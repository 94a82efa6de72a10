"""`make bench` (alone: `BENCH_ONLY=keyset make bench`): the key set at scale (issue 15).

At 1,000 keys in 10 clusters and at 100,000 keys in 1,000 clusters (made by
`manage.py seed_keys`, its time printed), side by side:

- the time for a data plane process to apply one change (a key created, a key
  deleted: KeyStore.refresh() after the commit, what the handshake waits
  for), and a poll that finds nothing (goal: the same at both sizes, <= 5 ms);
- a full load of the key set: its time, and the memory it holds per 1,000
  keys (tracemalloc, the snapshot alone);
- create-key throughput (database_key_create, committed) with 8 concurrent
  writer processes in 8 clusters (goal: within 10 % at both sizes), with 1
  writer, and with 8 writers that also bump one counter row in their
  transaction, as every key write did before the change log: the baseline;
- the auth decision ratios of bench/dataplane.py with the whole key set loaded;
- the console: the cluster page, the account's API Keys page and the
  management API's list of database keys (all, and one cluster's): queries
  and p50.

On PostgreSQL: a throw-away database `bench_keyset_<pid>` on the server of
BENCH_DATABASE_URL, else of DATABASE_URL; without a postgres:// URL it runs on
SQLite (which serialises every writer) and says so.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((10, 1_000), (1_000, 100_000))  # (clusters, keys)
WRITERS = 8
MANAGE = [{"collection": None, "access": "m"}]


def _database(tmp: Path) -> tuple[str, callable]:
    """The URL of a fresh database, and how to drop it."""
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'keyset.sqlite3'}", lambda: None
    import psycopg

    name = f"bench_keyset_{os.getpid()}"
    parts = urlsplit(base)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def _setup(tmp: Path, url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings"
    os.environ.pop("REDIS_URL", None)  # no broker: nothing here sends a task
    sys.path.insert(0, str(ROOT))
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic for a bench
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DATAPLANE_RUN_DIR = tmp / "run"  # no data plane process: the handshake has nobody to ask
    settings.DATAPLANE_CONFIRM_SECONDS = 0
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # Pages render without collectstatic (as in the tests): the manifest is not the point here.
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    call_command("migrate", verbosity=0)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_counter (id integer PRIMARY KEY, n bigint NOT NULL)")
        cursor.execute("INSERT INTO bench_counter VALUES (1, 0)")


def _seed(clusters: int, keys: int) -> tuple[float, list]:
    """Empties the key tables and seeds afresh through the management command; its own time."""
    from io import StringIO

    from django.core.management import call_command

    from apikeys.models import DatabaseApiKey
    from clusters.models import Cluster
    from fronts.models import KeySetChange

    DatabaseApiKey.objects.all().delete()
    Cluster.objects.all().delete()
    KeySetChange.objects.all().delete()
    out = StringIO()
    started = time.perf_counter()
    call_command("seed_keys", clusters=clusters, keys=keys, account="Scale", stdout=out)
    seconds = time.perf_counter() - started
    return seconds, list(Cluster.objects.filter(account__name="Scale").order_by("name"))


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load_figures() -> dict:
    import gc

    from bench.dataplane import contract_client
    from dataplane.keystore import load_key_set

    client = contract_client()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        key_set = load_key_set(client)
        times.append(time.perf_counter() - started)
        del key_set
    gc.collect()
    tracemalloc.start()
    key_set = load_key_set(client)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    total = len(key_set.database_keys) + len(key_set.admin_keys)
    return {"load_s": min(times), "bytes_per_1000": held / total * 1000, "loaded": total}


def apply_figures(cluster, trials: int) -> dict:
    """What the handshake waits for in a process: refresh() right after each commit."""
    from apikeys.services import database_key_create, database_key_delete
    from bench.dataplane import contract_client
    from dataplane.keystore import KeyStore

    store = KeyStore(client=contract_client(), poll_seconds=60, reload_seconds=3600)
    store.refresh(force=True)
    samples = {"create": [], "delete": [], "nothing": []}
    for _ in range(trials):
        key, _ = database_key_create(cluster=cluster, name="bench key", rules=MANAGE, expires_at=None, by=None)
        started = time.perf_counter()
        store.refresh()
        samples["create"].append(time.perf_counter() - started)
        assert str(key.id) in store.current.database_keys
        database_key_delete(key=key, by=None)
        started = time.perf_counter()
        store.refresh()
        samples["delete"].append(time.perf_counter() - started)
        assert str(key.id) not in store.current.database_keys
        started = time.perf_counter()
        store.refresh()
        samples["nothing"].append(time.perf_counter() - started)
    assert store.loads == 1, "a change fell back to a full load"
    return {name: (_percentile(v, 0.5) * 1e3, _percentile(v, 0.99) * 1e3) for name, v in samples.items()}


def _writer(cluster_id, hot: bool, start, seconds: float, results) -> None:
    from django.db import connection, transaction

    from apikeys.services import database_key_create
    from clusters.models import Cluster

    cluster = Cluster.objects.get(id=cluster_id)
    start.wait()
    deadline = time.perf_counter() + seconds
    made = 0
    while time.perf_counter() < deadline:
        with transaction.atomic():
            database_key_create(cluster=cluster, name="writer key", rules=MANAGE, expires_at=None, by=None)
            if hot:  # what keys_changed() did before the change log: bump one shared row, held till commit
                with connection.cursor() as cursor:
                    cursor.execute("UPDATE bench_counter SET n = n + 1 WHERE id = 1")
        made += 1
    connection.close()
    results.put(made)


def writer_throughput(clusters: list, writers: int, seconds: float, *, hot: bool = False) -> float:
    """Keys created per second by `writers` processes at once, each in a cluster of its own."""
    from django.db import connections

    connections.close_all()  # the children open their own; none may share the parent's socket
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    children = [context.Process(target=_writer, args=(clusters[i].id, hot, start, seconds, results))
                for i in range(writers)]
    for child in children:
        child.start()
    time.sleep(0.5)  # every child connected and waiting
    start.set()
    made = sum(results.get(timeout=seconds + 60) for _ in children)
    for child in children:
        child.join()
    return made / seconds


def console_figures(clusters: list, rounds: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import Membership
    from accounts.roles import Role
    from django.utils import timezone

    from managementkeys.models import ManagementKey
    from managementkeys.services import management_key_create

    cluster = clusters[0]
    account = cluster.account
    user, _ = get_user_model().objects.get_or_create(username="scale-owner")
    Membership.objects.get_or_create(account=account, user=user, defaults={"role": Role.OWNER})
    browser = Client()
    browser.force_login(user)
    _, management_key = management_key_create(account=account, by=user, name="bench key")
    api = Client(headers={"authorization": f"apikey {management_key}"})
    keys_api = reverse("api:database-api-keys", kwargs={"account_id": account.id})
    pages = {
        "cluster page": (browser, reverse("clusters:detail", kwargs={"account_id": account.id,
                                                                     "cluster_id": cluster.id})),
        "API Keys page (account-wide)": (browser, reverse("apikeys:account-list", kwargs={"account_id": account.id})),
        "API list, one cluster": (api, f"{keys_api}?clusterId={cluster.id}"),
        "API list, whole account": (api, keys_api),
    }
    figures = {}
    for name, (client, url) in pages.items():
        assert client.get(url).status_code == 200  # warm up
        times = []
        for _ in range(rounds if "whole" not in name else max(1, rounds // 5)):
            # Marked used now: its last-used write (at most once a minute) stays out of the count.
            ManagementKey.objects.filter(account=account).update(last_used_at=timezone.now())
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - started)
            assert response.status_code == 200
        figures[name] = (len(queries), statistics.median(times) * 1e3)
    return figures


def measure(clusters: int, keys: int, *, trials: int, seconds: float, rounds: int) -> dict:
    from apikeys.services import database_key_create
    from bench.dataplane import auth_ratios

    seed_seconds, made = _seed(clusters, keys)
    figures = {"seed_s": seed_seconds}
    figures |= load_figures()
    figures["apply"] = apply_figures(made[0], trials)
    _, token = database_key_create(cluster=made[0], name="bench auth key",
                                   rules=[{"collection": "bench", "access": "rw"}], expires_at=None, by=None)
    figures["auth"] = auth_ratios(made[0], token)
    writers = made[:WRITERS] if len(made) >= WRITERS else [made[i % len(made)] for i in range(WRITERS)]
    # In turn, twice: the machine's load drifts, and falls on all three alike.
    runs = {"writers": [], "writers_hot": [], "writer_one": []}
    for _ in range(2):
        runs["writers"].append(writer_throughput(writers, WRITERS, seconds))
        runs["writers_hot"].append(writer_throughput(writers, WRITERS, seconds, hot=True))
        runs["writer_one"].append(writer_throughput(writers, 1, seconds))
    figures |= {name: statistics.mean(values) for name, values in runs.items()}
    figures["console"] = console_figures(made, rounds)
    return figures


def report(vendor: str, results: dict) -> None:
    small, large = (results[size] for size in SIZES)
    labels = [f"{keys:,} keys / {clusters:,} clusters" for clusters, keys in SIZES]
    print(f"Key set at scale ({vendor}), side by side:{labels[0]:>34}{labels[1]:>34}")

    def row(name: str, a: str, b: str, note: str = "") -> None:
        print(f"  {name:44}{a:>28}{b:>34}  {note}")

    row("seed_keys (bulk_create, precomputed digests)", f"{small['seed_s']:.1f} s", f"{large['seed_s']:.1f} s",
        "(goal: 100,000 keys < 60 s)")
    for op, label in (("create", "apply one change: a key created"), ("delete", "apply one change: a key deleted"),
                      ("nothing", "a poll that finds no change")):
        a, b = small["apply"][op], large["apply"][op]
        row(label, f"p50 {a[0]:.2f} p99 {a[1]:.2f} ms", f"p50 {b[0]:.2f} p99 {b[1]:.2f} ms",
            f"ratio p50 {b[0] / a[0]:.2f}x" + ("  (goal: same, <= 5 ms)" if op != "nothing" else ""))
    row("full load of the key set", f"{small['load_s'] * 1e3:.0f} ms", f"{large['load_s'] * 1e3:.0f} ms",
        f"{large['load_s'] / large['loaded'] * 1e6:.1f} µs a key at 100,000")
    row("memory per 1,000 keys (tracemalloc)", f"{small['bytes_per_1000'] / 1024:.0f} KiB",
        f"{large['bytes_per_1000'] / 1024:.0f} KiB")
    ratio = large["writers"] / small["writers"]
    row(f"create-key throughput, {WRITERS} writers", f"{small['writers']:.0f} keys/s", f"{large['writers']:.0f} keys/s",
        f"ratio {ratio:.2f}x  (goal: within 10 %)")
    row(f"  {WRITERS} writers on one counter row (before)", f"{small['writers_hot']:.0f} keys/s",
        f"{large['writers_hot']:.0f} keys/s",
        f"change log is {large['writers'] / large['writers_hot']:.2f}x of it at 100,000")
    row("  1 writer, measured in turn with them", f"{small['writer_one']:.0f} keys/s",
        f"{large['writer_one']:.0f} keys/s")
    scaled = [size["writers"] / size["writer_one"] for size in (small, large)]
    row(f"  {WRITERS} writers / 1 writer (drift cancels)", f"{scaled[0]:.2f}x", f"{scaled[1]:.2f}x",
        f"ratio {scaled[1] / scaled[0]:.2f}x  (goal: within 10 %)")
    for name, label in (("cached_ratio", "auth, seen before / one HMAC (<= 1.0x)"),
                        ("first_ratio", "auth, first time / PyJWT decode (<= 1.2x)")):
        row(label, f"{small['auth'][name]:.2f}x", f"{large['auth'][name]:.2f}x")
    for name in small["console"]:
        (qa, ta), (qb, tb) = small["console"][name], large["console"][name]
        row(name, f"{qa} queries {ta:.1f} ms", f"{qb} queries {tb:.1f} ms",
            "same queries" if qa == qb else "QUERIES DIFFER")


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "keyset"):
        return
    trials = int(os.environ.get("BENCH_KEYSET_TRIALS", "100"))
    seconds = float(os.environ.get("BENCH_WRITER_SECONDS", "5"))
    rounds = int(os.environ.get("BENCH_CONSOLE_ROUNDS", "10"))
    with tempfile.TemporaryDirectory(prefix="keyset-bench-") as name:
        tmp = Path(name)
        url, drop = _database(tmp)
        try:
            _setup(tmp, url)
            from django.db import connection

            vendor = connection.vendor
            if vendor != "postgresql":
                print("Key set at scale: on SQLite (no postgres:// DATABASE_URL), whose writers wait on each other "
                      "whatever the schema; the writer figures say nothing about row locks")
            results = {}
            for clusters, keys in SIZES:
                results[(clusters, keys)] = measure(clusters, keys, trials=trials, seconds=seconds, rounds=rounds)
            report("PostgreSQL" if vendor == "postgresql" else vendor, results)
        finally:
            from django.db import connections

            connections.close_all()
            drop()


if __name__ == "__main__":
    main()
