"""TLS on the front's REST and gRPC ports, from DATAPLANE_TLS_CERT_FILE and
DATAPLANE_TLS_KEY_FILE in dataplane/settings.py (PEM: the certificate, then any intermediates; an
unencrypted private key). Both set: both ports serve TLS only. Neither: plain.

The files are read again when they change on disk (their size, mtime or inode),
checked at each new connection: a renewed certificate is served to the next
client without a restart, as Qdrant's `tls.cert_ttl` does for HTTPS (and here
for gRPC too). A replacement that does not load (a key not yet written beside
its new certificate) is logged and the pair served so far stays in use.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

logger = logging.getLogger(__name__)

CERT_FILE = "DATAPLANE_TLS_CERT_FILE"
KEY_FILE = "DATAPLANE_TLS_KEY_FILE"


class TlsError(Exception):
    """A certificate and key the front cannot serve; the message names the variable and the file."""


@dataclass(frozen=True)
class CertificateFiles:
    cert: Path
    key: Path

    def stamp(self) -> tuple:
        """Changes whenever either file is rewritten or replaced (a rename gives a new inode)."""
        stats = [os.stat(path) for path in (self.cert, self.key)]
        return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)

    def read(self) -> tuple[bytes, bytes]:
        """(certificate chain, key) as PEM, checked to be a pair."""
        cert_pem, key_pem = _read(CERT_FILE, self.cert), _read(KEY_FILE, self.key)
        try:
            chain = x509.load_pem_x509_certificates(cert_pem)
        except ValueError:
            raise TlsError(f"{CERT_FILE}: {self.cert} holds no PEM certificate.") from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError:
            raise TlsError(f"{KEY_FILE}: {self.key} is encrypted; give the key unencrypted (mode 0600).") from None
        except ValueError:
            raise TlsError(f"{KEY_FILE}: {self.key} holds no PEM private key.") from None
        if _public(key.public_key()) != _public(chain[0].public_key()):
            raise TlsError(f"{KEY_FILE}: {self.key} is not the key of the certificate in {self.cert}.")
        return cert_pem, key_pem


def configured() -> CertificateFiles | None:
    """The pair to serve (dataplane/settings.py), checked now so that a bad one stops the start; None for plain."""
    from dataplane import settings

    if not settings.DATAPLANE_TLS_CERT_FILE:
        return None
    files = CertificateFiles(Path(settings.DATAPLANE_TLS_CERT_FILE), Path(settings.DATAPLANE_TLS_KEY_FILE))
    files.read()
    return files


class _Watch:
    """Tells, at each new connection, whether the files changed since last loaded."""

    def __init__(self, files: CertificateFiles) -> None:
        self.files = files
        self._stamp = files.stamp()

    def changed(self) -> bool:
        try:
            stamp = self.files.stamp()
        except OSError as error:  # mid-replacement: keep serving what is loaded
            if self._stamp is not None:  # said once, not at every connection
                logger.warning("TLS files unreadable, serving the certificate loaded before: %s", error)
            self._stamp = None
            return False
        if stamp == self._stamp:
            return False
        self._stamp = stamp  # a pair that fails to load is not retried until it changes again
        return True


class ReloadingContext(ssl.SSLContext):
    """The REST port's context: each new connection gets a context loaded from
    the files as they are now. uvloop and asyncio make every connection's TLS
    object with `wrap_bio`, so that is where the files are looked at."""

    def __new__(cls, files: CertificateFiles):
        return super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)

    def __init__(self, files: CertificateFiles) -> None:
        self._watch = _Watch(files)
        self._current = _server_context(files)

    def wrap_bio(self, *args, **kwargs):
        if self._watch.changed():
            try:
                self._current = _server_context(self._watch.files)
                logger.info("REST: serving the certificate now in %s", self._watch.files.cert)
            except (OSError, ssl.SSLError, TlsError) as error:
                logger.warning("REST: keeping the certificate served so far, the new files do not load: %s", error)
        return self._current.wrap_bio(*args, **kwargs)


def rest_context(config, default_factory) -> ssl.SSLContext:
    """uvicorn's `ssl_context_factory`, called in every worker process."""
    files = configured()
    assert files is not None, "uvicorn is given this factory only when TLS is configured"
    return ReloadingContext(files)


def grpc_credentials(files: CertificateFiles) -> grpc.ServerCredentials:
    """The gRPC port's credentials: gRPC asks `fetch` at each handshake for a newer pair."""
    watch = _Watch(files)

    def configuration(pair: tuple[bytes, bytes]):
        cert_pem, key_pem = pair
        return grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)])

    def fetch():
        if not watch.changed():
            return None
        try:
            pair = files.read()
        except (OSError, TlsError) as error:
            logger.warning("gRPC: keeping the certificate served so far, the new files do not load: %s", error)
            return None
        logger.info("gRPC: serving the certificate now in %s", files.cert)
        return configuration(pair)

    return grpc.dynamic_ssl_server_credentials(configuration(files.read()), fetch)


def _server_context(files: CertificateFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The password callback stops OpenSSL from prompting on the terminal for an encrypted key.
    context.load_cert_chain(files.cert, files.key, password=_no_password)
    return context


def _no_password() -> bytes:
    raise TlsError(f"{KEY_FILE} is encrypted; give the key unencrypted (mode 0600).")


def _read(variable: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsError(f"{variable}: cannot read {path}: {error.strerror}.") from None


def _public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
