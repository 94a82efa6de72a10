"""Runs the data plane on uvicorn: DATAPLANE_HOST:DATAPLANE_PORT, DATAPLANE_PROCESSES workers,
over TLS when dataplane.tls finds a certificate and key."""

import ipaddress
import logging
import os
import sys

# grpcio's core polls its sockets from the thread that waits on its completion
# queue, as before EventEngine, rather than in EventEngine's own threads, which
# then hand each event to that thread: a forwarded call crosses threads half as
# often (16 context switches instead of 32), which on a loaded machine is most
# of what gRPC adds over REST (docs/development/bench.md). Read once, when grpc
# starts; an operator's own GRPC_EXPERIMENTS is kept.
GRPC_EXPERIMENTS = "-event_engine_client,-event_engine_listener,-event_engine_for_all_other_endpoints"

# A thread that wants the GIL waits at most this long for the one that holds
# it (Python's default: 5 ms). A large body is parsed in a worker thread
# (dataplane/app.py); the event loop serving every other request waits this
# long for each of its turns: with 0.5 ms, another cluster's count p99 rises
# +4.6 and +4.9 ms while one cluster takes 10,000 points, against +5.5 and
# +5.7 ms with 5 ms (bench/dataplane.py part 6, runs in turn, quiet machine).
SWITCH_INTERVAL_SECONDS = 0.0005


def main() -> None:
    os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        from dataplane import settings
    except ValueError as exc:  # dataplane.settings.SettingsError: a setting is malformed
        sys.exit(f"The data plane cannot start: {exc}")
    import uvicorn

    from dataplane import tls
    from dataplane.protocol import CappedHttpToolsProtocol

    try:
        tls_files = tls.configured()
    except tls.TlsError as error:
        raise SystemExit(f"The data plane cannot start: {error}") from None
    if not settings.KEYSET_URL or not settings.KEYSET_CREDENTIAL:
        sys.exit("The data plane cannot start: KEYSET_URL (the console's address) and KEYSET_CREDENTIAL "
                 "(`manage.py create_front_credential NAME` on the console) must be set.")
    if settings.DATAPLANE_INSECURE_NO_AUTH and not _loopback(settings.DATAPLANE_HOST):
        sys.exit("The data plane cannot start: DATAPLANE_INSECURE_NO_AUTH is for benchmarks on the loopback "
                 "interface only.")
    if settings.DATAPLANE_INSECURE_NO_AUTH:
        logging.getLogger("dataplane").warning("authentication is OFF (DATAPLANE_INSECURE_NO_AUTH)")
    settings.DATAPLANE_DATA_DIR.mkdir(parents=True, exist_ok=True)
    if settings.DATAPLANE_METRICS_PORT:
        from dataplane import metrics

        try:
            metrics.serve(host=settings.DATAPLANE_METRICS_HOST, port=settings.DATAPLANE_METRICS_PORT,
                          directory=metrics.directory_of(settings.DATAPLANE_RUN_DIR, os.getpid()))
        except OSError as exc:
            sys.exit(f"The data plane cannot start: cannot serve metrics on {settings.DATAPLANE_METRICS_HOST}:"
                     f"{settings.DATAPLANE_METRICS_PORT} ({exc}).")
    uvicorn.run(
        "dataplane.asgi:application",
        host=settings.DATAPLANE_HOST,
        port=settings.DATAPLANE_PORT,
        workers=settings.DATAPLANE_PROCESSES,
        loop="uvloop",
        http=CappedHttpToolsProtocol,
        lifespan="on",
        access_log=False,
        server_header=False,
        # The client's address is the peer's; X-Forwarded-For counts only from
        # TRUSTED_PROXIES, read by dataplane.auth.client_address.
        proxy_headers=False,
        log_level=settings.DATAPLANE_LOG_LEVEL,
        timeout_graceful_shutdown=5,
        # Each worker makes its own context (a reloading one, see dataplane.tls).
        ssl_context_factory=tls.rest_context if tls_files else None,
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
