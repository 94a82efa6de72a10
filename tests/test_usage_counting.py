"""dataplane.usage.Counting, in-process: the rows an answered request adds to
are remembered (bench/usage_counting.py), and what the console and the
metrics receive stays exact across reports, minutes and many paths."""

import pytest

from dataplane import usage as usage_module
from dataplane.keystore import KeyEntry
from dataplane.metrics import Metrics
from dataplane.pipeline import Pipeline, Request

KEY = KeyEntry(id="00000000-0000-0000-0000-00000000000a", cluster_id="c1", kind="database", expires_at=None)


class _Grant:
    key = KEY
    cluster = type("Cluster", (), {"id": "c1"})()


class _Clock:
    """The wall clock and perf_counter, moved by the test."""

    def __init__(self, monkeypatch, wall: float) -> None:
        self.wall, self.perf = wall, 1000.0
        monkeypatch.setattr(usage_module.time, "time", lambda: self.wall)
        monkeypatch.setattr(usage_module, "perf_counter", lambda: self.perf)

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.perf += seconds


@pytest.fixture
def counted(monkeypatch):
    clock = _Clock(monkeypatch, wall=60 * 1000 + 10.0)  # 10 s into minute 1000
    usage, metrics = usage_module.Usage(), Metrics()
    return clock, usage, metrics, Pipeline(keystore=None, engine=None, last_used=None, usage=usage, metrics=metrics)


def _request(protocol: str = "grpc", target: str = "/qdrant.Points/Count") -> Request:
    request = Request(protocol, target)
    request.grant = _Grant()
    return request


def _allowed(rows: list, minute: int | None = None) -> int:
    return sum(row[6] for row in rows if row[4] == "allowed" and (minute is None or row[2] == minute))


def _metrics_total(metrics: Metrics, protocol: str) -> int:
    return sum(counts[0] for place, counts in metrics.requests.items() if place[1] == protocol)


def test_requests_after_a_report_go_to_the_next_report(counted):
    _, usage, metrics, pipeline = counted
    for _ in range(3):
        pipeline.finish(_request(), "OK")
    first = usage.take()
    for _ in range(2):
        pipeline.finish(_request(), "OK")
    pipeline.finish(_request("rest", "/collections/films/points/count"), 200)
    second = usage.take()
    assert _allowed(first) == 3
    assert _allowed(second) == 3
    assert {(row[3], row[6]) for row in second} == {("grpc", 2), ("rest", 1)}
    assert _metrics_total(metrics, "grpc") == 5 and _metrics_total(metrics, "rest") == 1


def test_a_new_minute_starts_new_rows(counted):
    clock, usage, _, pipeline = counted
    pipeline.finish(_request(), "OK")
    clock.advance(49.0)  # 59 s into minute 1000
    pipeline.finish(_request(), "OK")
    clock.advance(2.0)  # minute 1001
    for _ in range(4):
        pipeline.finish(_request(), "OK")
    rows = usage.take()
    assert _allowed(rows, 1000) == 2
    assert _allowed(rows, 1001) == 4


def test_refusals_and_answers_of_one_key_are_apart(counted):
    _, usage, metrics, pipeline = counted
    pipeline.finish(_request(), "OK")
    pipeline.finish(_request(), "PERMISSION_DENIED", "Forbidden: Write access to collection films is required")
    pipeline.finish(_request(), "OK")
    rows = usage.take()
    assert _allowed(rows) == 2
    assert [(row[4], row[5], row[6]) for row in rows if row[4] != "allowed"] == [
        ("403", "Write access to collection films is required", 1)]
    assert {place[3:]: counts[0] for place, counts in metrics.requests.items()} == {
        ("allowed", ""): 2, ("403", "access"): 1}


def test_more_paths_than_the_memo_holds_are_all_counted(counted):
    _, usage, metrics, pipeline = counted
    paths = usage_module.MEMO_ROWS + 50
    for number in range(paths):
        pipeline.finish(_request("rest", f"/collections/films/points/{number}"), 200)
        pipeline.finish(_request("rest", f"/collections/films/points/{number}"), 200)
    assert _allowed(usage.take()) == 2 * paths
    assert _metrics_total(metrics, "rest") == 2 * paths


def test_long_paths_are_counted_without_being_remembered(counted):
    _, usage, metrics, pipeline = counted
    long_path = "/collections/films/points/" + "9" * 10_000
    for _ in range(3):
        pipeline.finish(_request("rest", long_path), 200)
    assert pipeline.counting._remembered == 0
    assert _allowed(usage.take()) == 3
    assert _metrics_total(metrics, "rest") == 3
