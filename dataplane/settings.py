"""The front's settings, from its environment alone: the console's contract
address and this front's credential, where it listens, and its tuning.

Nothing of the console: no database, no SECRET_KEY, no encryption keys. A
malformed value stops the start with a message naming the variable. The
defaults serve `make run` on one host (runall passes KEYSET_URL and an
internal KEYSET_CREDENTIAL).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from keyset.client_address import trusted_networks

BASE_DIR = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A front setting that is missing or malformed: the message says which and why."""


def _str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def _number(name: str, default: float, low: float, high: float, *, whole: bool = False) -> float:
    text = _str(name)
    if text is None:
        return default
    kind = "a whole number" if whole else "a number"
    try:
        value = int(text) if whole else float(text)  # "6333.0" and "1e9" are no port, no byte count
    except ValueError:
        raise SettingsError(f"{name} must be {kind} from {low:g} to {high:g}; got {text!r}.") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be {kind} from {low:g} to {high:g}; got {text!r}.")
    return value


def _bool(name: str, default: bool = False) -> bool:
    text = (_str(name) or "").lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false; got {text!r}.")


def _networks(name: str) -> tuple:
    try:
        return trusted_networks(_str(name) or "")
    except ValueError as exc:
        raise SettingsError(f"{name} {exc}") from None


def _url(name: str, schemes: tuple[str, ...]) -> str | None:
    value = _str(name)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise SettingsError(f"{name} must be a {'/'.join(schemes)}:// URL with a host; got {value!r}.")
    return value


def _host_port(name: str) -> str | None:
    value = _str(name)
    if value is not None:
        try:
            parts = urlsplit(f"tcp://{value}")
            valid = bool(parts.hostname and parts.port)
        except ValueError:  # a port that is no number
            valid = False
        if not valid:
            raise SettingsError(f"{name} must be host:port; got {value!r}.")
    return value


# The console's contract (keyset/wire.py) and this front's credential
# (`manage.py create_front_credential NAME` on the console). Required to serve.
KEYSET_URL = _url("KEYSET_URL", ("http", "https"))
KEYSET_CREDENTIAL = _str("KEYSET_CREDENTIAL")
# A PEM file of the CA that signed the console's certificate, for an https
# KEYSET_URL (without it, the system's CAs). Loaded here so that a wrong file
# stops the start instead of failing every request to the console.
KEYSET_CA_FILE = _str("KEYSET_CA_FILE")
if KEYSET_CA_FILE:
    if not Path(KEYSET_CA_FILE).is_file():
        raise SettingsError(f"KEYSET_CA_FILE names no file: {KEYSET_CA_FILE!r}.")
    try:
        ssl.create_default_context(cafile=KEYSET_CA_FILE)
    except (OSError, ssl.SSLError):
        raise SettingsError(f"KEYSET_CA_FILE holds no PEM certificate: {KEYSET_CA_FILE!r}.") from None
    if KEYSET_URL and urlsplit(KEYSET_URL).scheme != "https":
        raise SettingsError(f"KEYSET_CA_FILE is set but KEYSET_URL is not https://: {KEYSET_URL!r} "
                            "would carry the credential and the key set in the clear.")

DATAPLANE_HOST = _str("DATAPLANE_HOST", "127.0.0.1")
DATAPLANE_PORT = _number("DATAPLANE_PORT", 6333, 1, 65535, whole=True)
# Every cluster's gRPC endpoint (dataplane/grpcfront.py), in each process.
DATAPLANE_GRPC_PORT = _number("DATAPLANE_GRPC_PORT", 6334, 1, 65535, whole=True)
if DATAPLANE_GRPC_PORT == DATAPLANE_PORT:
    raise SettingsError("DATAPLANE_GRPC_PORT must differ from DATAPLANE_PORT.")
# Processes serving the port (uvicorn workers); collections of a cluster are
# served by one of them at a time and the others forward to it.
DATAPLANE_PROCESSES = _number("DATAPLANE_PROCESSES", 1, 1, 64, whole=True)
# Each open embedded cluster's storage in a process of its own, so one
# cluster's long upsert or flush holds no other (dataplane/storage_process.py).
DATAPLANE_STORAGE_PROCESSES = _bool("DATAPLANE_STORAGE_PROCESSES", True)
DATAPLANE_DATA_DIR = Path(_str("DATAPLANE_DATA_DIR", str(BASE_DIR / "var" / "dataplane")))
# Where each process listens for forwarded storage operations and the
# console's handshake (keyset/handshake.py): on the console's host, the
# directory the console names too.
DATAPLANE_RUN_DIR = Path(_str("DATAPLANE_RUN_DIR", str(DATAPLANE_DATA_DIR / "run")))
# With Redis (the console's REDIS_URL) a change wakes the front at once; it polls as a backstop.
REDIS_URL = _url("REDIS_URL", ("redis", "rediss"))
# How often each process asks the console for changes.
DATAPLANE_POLL_SECONDS = _number("DATAPLANE_POLL_SECONDS", 1.0 if REDIS_URL else 0.2, 0.01, 3600)
# Between polls each process asks the console to answer as soon as the key
# set changes, holding the request up to this long (a long-poll); 0: polling only.
DATAPLANE_LONG_POLL_SECONDS = _number("DATAPLANE_LONG_POLL_SECONDS", 25.0, 0, 60)
# A full snapshot this often, whatever the change log says: only for writes
# made without keys_changed() (a shell).
DATAPLANE_RELOAD_SECONDS = _number("DATAPLANE_RELOAD_SECONDS", 300.0, 1, 86400)
DATAPLANE_LAST_USED_FLUSH_SECONDS = _number("DATAPLANE_LAST_USED_FLUSH_SECONDS", 5.0, 0.01, 3600)
# Qdrant's own default limit (service.max_request_size_mb = 32).
DATAPLANE_MAX_BODY_BYTES = _number("DATAPLANE_MAX_BODY_BYTES", 32 * 1024 * 1024, 1024, 2**31 - 1, whole=True)
# Proxies whose X-Forwarded-For the front believes (keyset/client_address.py).
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES")
# uvicorn's own log.
DATAPLANE_LOG_LEVEL = (_str("DATAPLANE_LOG_LEVEL", "warning")).lower()
if DATAPLANE_LOG_LEVEL not in ("trace", "debug", "info", "warning", "error", "critical"):
    raise SettingsError(f"DATAPLANE_LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL; "
                        f"got {DATAPLANE_LOG_LEVEL!r}.")
# For tests only: the handshake socket may move the front's clock (dataplane/clock.py).
DATAPLANE_TEST_CLOCK = _bool("DATAPLANE_TEST_CLOCK")
# Requests per key per minute, reported to the console for its charts
# (dataplane/usage.py); off, keys show no usage (the benchmark compares both).
DATAPLANE_COUNT_USAGE = _bool("DATAPLANE_COUNT_USAGE", True)
# The front's Prometheus metrics (dataplane/metrics.py): unset, none are served.
DATAPLANE_METRICS_PORT = _number("DATAPLANE_METRICS_PORT", 0, 1, 65535, whole=True) if _str(
    "DATAPLANE_METRICS_PORT") else None
DATAPLANE_METRICS_HOST = _str("DATAPLANE_METRICS_HOST", "127.0.0.1")
if DATAPLANE_METRICS_PORT in (DATAPLANE_PORT, DATAPLANE_GRPC_PORT):
    raise SettingsError("DATAPLANE_METRICS_PORT must differ from DATAPLANE_PORT and DATAPLANE_GRPC_PORT.")
# TLS on both ports (dataplane/tls.py loads and watches the pair): a PEM
# certificate (then any intermediates) and its unencrypted key; neither: plain.
DATAPLANE_TLS_CERT_FILE = _str("DATAPLANE_TLS_CERT_FILE")
DATAPLANE_TLS_KEY_FILE = _str("DATAPLANE_TLS_KEY_FILE")
if bool(DATAPLANE_TLS_CERT_FILE) != bool(DATAPLANE_TLS_KEY_FILE):
    raise SettingsError("DATAPLANE_TLS_CERT_FILE and DATAPLANE_TLS_KEY_FILE go together: "
                        f"{'DATAPLANE_TLS_KEY_FILE' if DATAPLANE_TLS_CERT_FILE else 'DATAPLANE_TLS_CERT_FILE'} is not set.")
# Where other fronts send the storage operations of the embedded clusters this
# front owns (dataplane/engine.py), on DATAPLANE_HOST; unset: it takes none
# (one front alone needs none). Over TLS when the front serves TLS.
DATAPLANE_STORAGE_PORT = _number("DATAPLANE_STORAGE_PORT", 0, 1, 65535, whole=True) if _str(
    "DATAPLANE_STORAGE_PORT") else None
if DATAPLANE_STORAGE_PORT and DATAPLANE_STORAGE_PORT in (DATAPLANE_PORT, DATAPLANE_GRPC_PORT, DATAPLANE_METRICS_PORT):
    raise SettingsError("DATAPLANE_STORAGE_PORT must differ from the front's other ports.")
# host:port at which the other fronts reach that port (default DATAPLANE_HOST's).
DATAPLANE_STORAGE_ADDRESS = _host_port("DATAPLANE_STORAGE_ADDRESS")
if DATAPLANE_STORAGE_ADDRESS and not DATAPLANE_STORAGE_PORT:
    raise SettingsError("DATAPLANE_STORAGE_ADDRESS is set but DATAPLANE_STORAGE_PORT is not.")
if DATAPLANE_STORAGE_PORT and not DATAPLANE_STORAGE_ADDRESS:
    if DATAPLANE_HOST in ("0.0.0.0", "::"):
        raise SettingsError(f"DATAPLANE_STORAGE_ADDRESS must be set: DATAPLANE_HOST {DATAPLANE_HOST} is no address "
                            "other fronts can reach.")
    DATAPLANE_STORAGE_ADDRESS = (f"[{DATAPLANE_HOST}]" if ":" in DATAPLANE_HOST else DATAPLANE_HOST) + \
        f":{DATAPLANE_STORAGE_PORT}"
# For the benchmark only: serve without authentication (loopback only).
DATAPLANE_INSECURE_NO_AUTH = _bool("DATAPLANE_INSECURE_NO_AUTH")
