"""The front's Prometheus metrics, served on DATAPLANE_METRICS_HOST:DATAPLANE_METRICS_PORT.

Each process counts in plain dicts on the request path
(dataplane.usage.Counting adds to the rows of `Metrics.row`: a few integer
additions; prometheus_client's own multiprocess values cost ~7 µs a request
here, more than the 3 % budget)
and writes its totals once a second to `<run dir>/metrics/<pid>.json`. The
metrics server (`serve`, in uvicorn's parent process) sums the files of the
processes still alive at each scrape and renders them with prometheus_client.

Labels are bounded: the cluster (an id the key set knows, "none" before a
key is recognised), the protocol, a route group (ROUTE_GROUPS), the outcome
and a refusal kind (REFUSAL_KINDS), and for forwarding the node. Never a
key id.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from keyset.handshake import process_alive
from keyset.usage import BUCKETS, LATENCY_BOUNDS

logger = logging.getLogger(__name__)

PREFIX = "qdrant_front_"
ROUTE_GROUPS = ("collections", "points", "index", "aliases", "snapshots", "cluster", "health", "other")
_REST_GROUPS = {"collections": "collections", "aliases": "aliases", "snapshots": "snapshots", "cluster": "cluster",
                "points": "points", "index": "index", "healthz": "health", "livez": "health", "readyz": "health"}
_GRPC_GROUPS = {"Points": "points", "Collections": "collections", "Snapshots": "snapshots", "Qdrant": "health",
                "Health": "health"}
# Route groups remembered per protocol, of paths and methods this long at most:
# paths come from clients (point ids, names), so the memo is bounded, and a
# target past it is worked out on each request, as it would be without one.
MEMO_TARGETS = 1024
MEMO_TARGET_LENGTH = 256
# A refusal's reason (Qdrant's message) as a bounded label.
REFUSAL_KINDS = ("no_key", "invalid", "expired", "signature", "address", "access", "tenant", "stateful", "other")


def refusal_kind(status: int, reason: str, tenant_bound: bool) -> str:
    """A refusal's reason (Qdrant's message, dataplane/auth.py and keyset/rights.py) as one of REFUSAL_KINDS;
    `tenant_bound`: the request's key is bound to a tenant, whose rules (keyset/tenant.py) refuse with
    messages that name no common word (its field's name is the key's own: "must carry group_id = …",
    "batch: one payload per id"), so what else of such a key's is refused is theirs."""
    if status not in (401, 403):
        return ""
    if reason.startswith("Must provide"):
        return "no_key"
    if "stateful" in reason:
        return "stateful"
    if reason.startswith("Invalid API key"):  # also a disabled key, or a rolled one past its grace: alike on purpose
        return "invalid"
    if reason == "ExpiredSignature":
        return "expired"
    if reason == "InvalidSignature":
        return "signature"
    if "address" in reason:
        return "address"
    if reason.endswith("is required"):
        return "access"
    return "tenant" if tenant_bound else "other"


def rest_group(path: str) -> str:
    """The route group of a REST path: /collections/{c}/points/… is "points"."""
    parts = path.split("/", 4)
    first = parts[1] if len(parts) > 1 else ""
    if first == "collections" and len(parts) > 3:
        return _REST_GROUPS.get(parts[3], "collections")
    return _REST_GROUPS.get(first, "other")


def grpc_group(method: str) -> str:
    """/qdrant.Points/Search is "points"."""
    service = method[1:].split("/", 1)[0].rsplit(".", 1)[-1]
    return _GRPC_GROUPS.get(service, "other")


class Metrics:
    """One process's totals since it started."""

    def __init__(self) -> None:
        # (cluster, protocol, group, outcome, refusal kind) -> [count, *latency buckets, seconds]
        self.requests: dict[tuple, list] = {}
        # (cluster, node, protocol) -> requests a node answered / requests moved off it after it failed
        self.forwarded: dict[tuple, int] = {}
        self.failovers: dict[tuple, int] = {}
        # protocol -> {REST path or gRPC method: route group} (MEMO_TARGETS)
        self._groups: dict[str, dict[str, str]] = {"rest": {}, "grpc": {}}

    def row(self, cluster: str, protocol: str, target: str, outcome: str, refusal: str) -> list:
        """The counts of requests ending as `outcome` (keyset.usage.OUTCOMES)
        with `refusal` (REFUSAL_KINDS, "" unless refused): [count, *latency
        buckets, seconds], made when first needed (dataplane.usage.Counting
        adds to it). `target`: the REST path or the gRPC method. On the event
        loop's thread only (no lock: `snapshot` copies under the GIL)."""
        memo = self._groups[protocol]
        group = memo.get(target)
        if group is None:
            group = rest_group(target) if protocol == "rest" else grpc_group(target)
            if len(memo) < MEMO_TARGETS and len(target) <= MEMO_TARGET_LENGTH:
                memo[target] = group
        place = (cluster, protocol, group, outcome, refusal)
        counts = self.requests.get(place)
        if counts is None:
            counts = self.requests[place] = [0] * (BUCKETS + 1) + [0.0]
        return counts

    def forward(self, cluster: str, node: str, protocol: str, failed: list[str] = ()) -> None:
        """A request forwarded to `node`, after the nodes in `failed` did not answer."""
        place = (cluster, node, protocol)
        self.forwarded[place] = self.forwarded.get(place, 0) + 1
        for other in failed:
            place = (cluster, other, protocol)
            self.failovers[place] = self.failovers.get(place, 0) + 1

    def snapshot(self) -> dict:
        """From the writer's thread: list() and tuple() copy a dict's items and a list whole under the GIL,
        so a row is never seen half-counted."""
        return {"requests": [[*place, *tuple(counts)] for place, counts in list(self.requests.items())],
                "forwarded": [[*place, n] for place, n in list(self.forwarded.items())],
                "failovers": [[*place, n] for place, n in list(self.failovers.items())]}


class Writer:
    """Writes a process's totals (and its key set's state) to the metrics directory once a second."""

    def __init__(self, *, metrics: Metrics, keystore, directory: Path, seconds: float = 1.0) -> None:
        self.metrics, self.keystore = metrics, keystore
        self.path = Path(directory) / f"{os.getpid()}.json"
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write()
        self._thread = threading.Thread(target=self._run, name="dataplane-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.write()
            except OSError as exc:
                logger.warning("cannot write the front's metrics (%s)", exc)

    def write(self) -> None:
        store = self.keystore
        state = {"applied": store.current.watermark, "console_ok": store.console_ok,
                 "ok_at": store.ok_at, "loads": store.loads, "failures": store.failures}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.metrics.snapshot() | {"keyset": state, "written": time.time()}))
        temporary.replace(self.path)


class Collector:
    """prometheus_client's view of the processes' files, summed at each scrape."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _files(self) -> list[dict]:
        found = []
        for path in self.directory.glob("*.json"):
            pid = path.stem
            if not pid.isdigit():
                continue
            if not process_alive(int(pid)):
                path.unlink(missing_ok=True)  # a process that died: its counts go with it (a counter reset)
                continue
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return found

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        files = self._files()
        requests: dict[tuple, list] = {}
        forwarded: dict[tuple, int] = {}
        failovers: dict[tuple, int] = {}
        for data in files:
            for *place, count in data["forwarded"]:
                forwarded[tuple(place)] = forwarded.get(tuple(place), 0) + count
            for *place, count in data["failovers"]:
                failovers[tuple(place)] = failovers.get(tuple(place), 0) + count
            for row in data["requests"]:
                place, counts = tuple(row[:5]), row[5:]
                into = requests.setdefault(place, [0] * len(counts))
                for index, value in enumerate(counts):
                    into[index] += value

        total = CounterMetricFamily(PREFIX + "requests", "Requests the front answered, by cluster, protocol, "
                                    "route group, outcome and refusal kind.",
                                    labels=["cluster", "protocol", "route_group", "outcome", "refusal"])
        by_route: dict[tuple, list] = {}
        for (cluster, protocol, group, outcome, refusal), counts in sorted(requests.items()):
            total.add_metric([cluster, protocol, group, outcome, refusal], counts[0])
            into = by_route.setdefault((cluster, protocol, group), [0] * len(counts))
            for index, value in enumerate(counts):
                into[index] += value
        yield total

        latency = HistogramMetricFamily(PREFIX + "request_duration_seconds", "How long the front took to answer, "
                                        "by cluster, protocol and route group.",
                                        labels=["cluster", "protocol", "route_group"])
        for labels, counts in sorted(by_route.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BOUNDS, float("inf")), counts[1:-1], strict=True):
                cumulative += count
                buckets.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
            latency.add_metric(list(labels), buckets, counts[-1])
        yield latency

        for name, help_text, values in (
            (PREFIX + "forwarded_requests", "Requests forwarded to a node of a qdrant cluster, by the node that answered.",
             forwarded),
            (PREFIX + "failovers", "Requests moved to another node after this node did not answer.", failovers),
        ):
            family = CounterMetricFamily(name, help_text, labels=["cluster", "node", "protocol"])
            for place, count in sorted(values.items()):
                family.add_metric(list(place), count)
            yield family

        states = [data["keyset"] for data in files]
        now = time.time()
        yield GaugeMetricFamily(PREFIX + "processes", "Front processes serving (each with its own key set).",
                                value=len(states))
        applied = GaugeMetricFamily(PREFIX + "keyset_applied_change", "The last change of the key set applied, "
                                    "by the process furthest behind.")
        lag = GaugeMetricFamily(PREFIX + "keyset_lag_seconds", "Seconds since the process heard from the console "
                                "longest ago last reached it (its key set may be that old).")
        up = GaugeMetricFamily(PREFIX + "contract_up", "1 when every process reaches the console's contract "
                               "(keyset/wire.py), else 0.")
        if states:
            applied.add_metric([], min(state["applied"] for state in states))
            reached = [state["ok_at"] for state in states]
            lag.add_metric([], max(now - at for at in reached) if all(reached) else float("inf"))
            up.add_metric([], 1 if all(state["console_ok"] for state in states) else 0)
        yield applied
        yield lag
        yield up


def directory_of(run_dir: Path, front_pid: int) -> Path:
    """Where the processes of the front started as `front_pid` (uvicorn's parent, or the one process) write."""
    return Path(run_dir) / "metrics" / str(front_pid)


def serve(*, host: str, port: int, directory: Path):
    """Starts the metrics endpoint (any path answers, as prometheus_client's server does) in a thread."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(directory))
    return start_http_server(port, addr=host, registry=registry)
