"""The console's key set handshake with the front processes on this host, free of Django.

Each front process listens on `<pid>.keyset` under DATAPLANE_RUN_DIR and
removes it when it stops (dataplane/control.py). One JSON line in, one out:
the console sends REFRESH after a key change and waits for `{"ok": true}`
(fronts/changelog.py); tests and operators send STATS. Both sides import
this module.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import time
from pathlib import Path

SOCKET_SUFFIX = ".keyset"
REFRESH = b'{"op":"refresh"}\n'
STATS = b'{"op":"stats"}\n'
MAX_REPLY_BYTES = 65536


def restart_request(cluster_id) -> bytes:
    """Asks a process to restart the embedded cluster's storage if it holds it open (dataplane/control.py)."""
    return json.dumps({"op": "restart", "cluster": str(cluster_id)}).encode() + b"\n"


def socket_path(run_dir: Path, pid: int) -> Path:
    """Where the data plane process `pid` answers the handshake."""
    return Path(run_dir) / f"{pid}{SOCKET_SUFFIX}"



GONE = {"gone": True}


def ask_all(*, run_dir: Path, request: bytes, timeout: float) -> dict[str, dict | None]:
    """One request line to every process at once: pid -> its reply, None if none came in time,
    GONE for a socket whose process is dead."""
    deadline = time.monotonic() + timeout
    replies: dict[str, dict | None] = {}
    selector = selectors.DefaultSelector()
    try:
        paths = sorted(Path(run_dir).glob(f"*{SOCKET_SUFFIX}"))
    except OSError:
        paths = []
    for path in paths:
        pid = path.name[: -len(SOCKET_SUFFIX)]
        if not pid.isdigit():
            continue
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(str(path))
            sock.send(request)  # a few bytes: the socket buffer takes them whole
        except OSError:
            sock.close()
            # Gone (its socket left by a kill -9): it serves nothing. Alive but
            # refusing (or its backlog full): it may be serving an old key set.
            replies[pid] = None if process_alive(int(pid)) else GONE
            continue
        replies[pid] = None
        selector.register(sock, selectors.EVENT_READ, [pid, b""])
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                pid, buffer = key.data
                try:
                    chunk = key.fileobj.recv(4096)
                except OSError:
                    chunk = b""
                buffer += chunk
                key.data[1] = buffer
                if b"\n" in buffer or not chunk or len(buffer) > MAX_REPLY_BYTES:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    try:
                        replies[pid] = json.loads(buffer.split(b"\n", 1)[0]) if b"\n" in buffer else None
                    except ValueError:
                        replies[pid] = None
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return replies


def process_alive(pid: int) -> bool:
    """Whether a process of that pid exists (a socket left by a dead one is stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
