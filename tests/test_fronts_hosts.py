"""Fronts on several hosts (tests/fixtures/hosts.py: three fronts, each with
its own data and run directory and nothing of the console but KEYSET_URL and
a credential of its own). A key is admitted on its first request after the create answered and refused on the first after the
delete, on every front; a front that does not answer delays a change by the
bound only, named in the warning; a revoked front is cut off."""

import json
import logging
import os
import signal
import time
from pathlib import Path


from apikeys.services import database_key_delete
from fronts.credentials import front_credential_revoke
from tests.fixtures.dataplane import MANAGE, http_get, mint
from tests.fixtures.hosts import LONG_POLL_SECONDS, POLL_SECONDS

ROUNDS = int(os.environ.get("FRONTS_HOSTS_ROUNDS", "5"))  # 100 in `BENCH_ONLY=fronts make bench`
IDLE_SECONDS = 5.0


def status(front, token) -> int:
    return http_get(front.url + "/", {"api-key": token})[0]


def test_a_key_works_on_every_host_on_its_first_request_and_dies_on_every_host_after_delete(hosts, cluster, owner):
    wrong, waited = [], []
    for trial in range(ROUNDS):
        started = time.monotonic()
        key, token = mint(cluster, MANAGE, by=owner)  # answers once every front acknowledged it
        waited.append(time.monotonic() - started)
        wrong += [(trial, "create", front.host, s) for front in hosts if (s := status(front, token)) != 200]
        database_key_delete(key=key, by=owner)
        wrong += [(trial, "delete", front.host, s) for front in hosts if (s := status(front, token)) != 401]
    assert wrong == []
    waited.sort()
    p50, p99 = waited[len(waited) // 2], waited[min(len(waited) - 1, round(len(waited) * 0.99))]
    print(f"\na key create confirmed by {len(hosts)} fronts (long-poll {LONG_POLL_SECONDS} s, poll {POLL_SECONDS} s): "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {waited[-1] * 1000:.0f} ms over {ROUNDS} rounds")
    if figures := os.environ.get("FRONTS_HOSTS_FIGURES"):
        # And what the fronts ask of the console while nothing changes (the handshake's own requests count too).
        asked = lambda: sum(s["contract_requests"] for front in hosts for s in front.stats())  # noqa: E731
        before = asked()
        time.sleep(IDLE_SECONDS)
        idle = (asked() - before) / IDLE_SECONDS
        Path(figures).write_text(json.dumps({"p50": p50, "p99": p99, "max": waited[-1], "rounds": ROUNDS,
                                             "idle_requests_per_second": idle}))


def test_a_stopped_front_delays_a_change_by_the_bound_only_and_is_named(hosts, cluster, owner, settings, caplog):
    settings.DATAPLANE_CONFIRM_SECONDS = 0.5
    frozen, *running = hosts
    os.kill(frozen.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="fronts.changelog"):
            _, token = mint(cluster, MANAGE, by=owner)
        assert time.monotonic() - started < 0.5 + 1.0
        assert f"front-{frozen.host}" in caplog.text  # the warning names it
        assert [status(front, token) for front in running] == [200, 200]
    finally:
        os.kill(frozen.process.pid, signal.SIGCONT)
    frozen.wait_until_accepted(token)  # running again, it catches up


def test_a_killed_front_does_not_stop_the_others(hosts, cluster, owner):
    killed, *running = hosts
    os.killpg(killed.process.pid, signal.SIGKILL)
    killed.process.wait()
    key, token = mint(cluster, MANAGE, by=owner)
    assert [status(front, token) for front in running] == [200, 200]
    database_key_delete(key=key, by=owner)
    assert [status(front, token) for front in running] == [401, 401]


def test_a_revoked_front_is_cut_off(hosts, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner)
    revoked, *kept = hosts
    assert status(revoked, token) == 200
    front_credential_revoke(name=revoked.credential.name)
    revoked.wait_until_refused(token, timeout=2)  # its next poll is refused: it drops the key set
    assert [status(front, token) for front in kept] == [200, 200]
    _, later = mint(cluster, MANAGE, by=owner)  # not waited for any more, and never admitted there
    assert status(revoked, later) == 401 and [status(front, later) for front in kept] == [200, 200]
