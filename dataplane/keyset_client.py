"""The front's end of the contract: asks the console (KEYSET_URL) for the key
set and its changes, acknowledges what it applied, reports last uses
(keyset/wire.py). The credential travels in every request; the console
answers 401 to a wrong or revoked one (`Refused`). Over https the console's
certificate is checked against KEYSET_CA_FILE (else the system's CAs); one
that does not verify is `Untrusted`, and nothing is sent to it."""

from __future__ import annotations

import socket
import ssl

import httpx

from keyset import wire

TIMEOUT_SECONDS = 10.0


class Refused(Exception):
    """The console refused this front's credential: it is cut off."""


class Untrusted(Exception):
    """The console's certificate did not verify: the message says against what, and why."""


class KeysetClient:
    def __init__(self, *, url: str, credential: str, instance: str, ca_file: str | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.instance = instance
        self.applied: int | None = None  # the last change applied, sent with every request
        self.requests = 0  # requests made to the console (the handshake's `stats`)
        self._credential = credential
        self._trust = f"KEYSET_CA_FILE ({ca_file})" if ca_file else "the system's CAs (is KEYSET_CA_FILE set?)"
        verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_SECONDS, verify=verify, transport=transport)
        # Long-polls on a connection of their own: the handshake's catch-up
        # must not queue behind one held for up to 25 s.
        self._waiting = httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_SECONDS, verify=verify,
                                     transport=transport)

    def _headers(self) -> dict:
        headers = {"Authorization": f"Bearer {self._credential}", wire.INSTANCE_HEADER: self.instance}
        if self.applied is not None:
            headers[wire.APPLIED_HEADER] = str(self.applied)
        return headers

    def _send(self, method: str, path: str, *, http: httpx.Client | None = None, **kwargs) -> dict:
        self.requests += 1
        try:
            response = (http or self._http).request(method, path, headers=self._headers(), **kwargs)
        except httpx.ConnectError as exc:
            failure = _verification_failure(exc)
            if failure is None:
                raise
            raise Untrusted(f"the certificate of the console at {self._http.base_url} does not verify against "
                            f"{self._trust}: {failure.verify_message}") from exc
        if response.status_code == 401:
            raise Refused(response.json().get("error", "refused"))
        response.raise_for_status()
        return response.json()

    def snapshot(self) -> dict:
        return self._send("GET", wire.SNAPSHOT_PATH)

    def changes(self, after: int, also) -> dict:
        return self._send("GET", wire.CHANGES_PATH,
                          params={"after": str(after), "also": ",".join(map(str, sorted(also)))})

    def changes_when_any(self, after: int, also, *, seconds: float, nodes: str) -> dict:
        """Like `changes`, answered once there is a change to tell (or the
        nodes differ from those of digest `nodes`), or after `seconds`: a long-poll."""
        params = {"after": str(after), "also": ",".join(map(str, sorted(also))), "wait": f"{seconds:g}",
                  "nodes": nodes}
        return self._send("GET", wire.CHANGES_PATH, http=self._waiting, params=params,
                          timeout=seconds + TIMEOUT_SECONDS)

    def ack(self, applied: int) -> None:
        self.applied = applied
        self._send("POST", wire.ACK_PATH)

    def last_used(self, uses: list, usage: list) -> None:
        self._send("POST", wire.LAST_USED_PATH, json={"uses": uses, "usage": usage})

    def claim(self, cluster_id: str, address: str) -> dict:
        """Claims an embedded cluster's storage for this front (keyset/wire.py); the owner as the console says."""
        return self._send("POST", wire.CLAIM_PATH, json={"cluster": cluster_id, "address": address})

    def report_collections(self, cluster_id: str, names: list[str]) -> None:
        self._send("POST", wire.COLLECTIONS_PATH, json={"cluster": cluster_id, "names": names})

    def close(self) -> None:
        self._http.close()
        self._waiting.close()


def _verification_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check under httpx's ConnectError (httpx and httpcore chain it as the cause)."""
    while exc is not None and not isinstance(exc, ssl.SSLCertVerificationError):
        exc = exc.__cause__ or exc.__context__
    return exc


def instance_name(handshake_socket) -> str:
    """How this process names itself to the console: its host and its handshake
    socket, so the console tells the processes it asks over that socket
    (fronts.changelog.handshaken) from those it waits for on other hosts."""
    return f"{socket.gethostname()}:{handshake_socket}"
