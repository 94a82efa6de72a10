"""Strict parsing of settings from environment variables.

A value that cannot be parsed raises ImproperlyConfigured at start-up, naming
the variable, so a typo never turns into a 500 on some later request.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from keyset.client_address import trusted_networks

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_MISSING = object()


def var_dir() -> Path:
    """VAR_DIR: where the console keeps its state, var/ beside the code unless set.
    Read before the settings (their secrets file is in it) and by `make secrets`."""
    return Path(Env.raw("VAR_DIR") or Path(__file__).resolve().parent.parent / "var")


class Env:
    def __init__(self, secrets_file: Path | None = None):
        self._file_values = _read_env_file(secrets_file) if secrets_file else {}

    @staticmethod
    def raw(name: str) -> str | None:
        value = os.environ.get(name)
        return value if value not in (None, "") else None

    def _get(self, name: str, default=_MISSING):
        value = self.raw(name)
        if value is not None:
            return value
        if default is _MISSING:
            raise ImproperlyConfigured(f"{name} must be set.")
        return default

    def str(self, name: str, default=_MISSING) -> str:
        return self._get(name, default)

    def exported_dir(self, name: str, default: Path) -> str:
        """A directory a library reads from the environment itself (prometheus_client's
        PROMETHEUS_MULTIPROC_DIR): the variable's, else `default`, written back to the
        environment so the library and child processes see it, and made if missing."""
        value = self._get(name, str(default))
        os.environ[name] = value
        Path(value).mkdir(parents=True, exist_ok=True)
        return value

    def bool(self, name: str, default: bool) -> bool:
        value = self._get(name, None)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be one of true/false, yes/no, on/off, 1/0; got {value!r}.")

    def float(self, name: str, default: float) -> float:
        value = self._get(name, None)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number; got {value!r}.") from None
        if number < 0:
            raise ImproperlyConfigured(f"{name} must not be negative; got {value!r}.")
        return number

    def int(self, name: str, default: int, low: int, high: int) -> int:
        value = self._get(name, None)
        if value is None:
            return default
        if not re.fullmatch(r"[0-9]+", value.strip()) or not low <= int(value) <= high:
            raise ImproperlyConfigured(f"{name} must be a whole number from {low} to {high}; got {value!r}.")
        return int(value)

    def executable(self, name: str) -> str:
        """The absolute path of an executable file: the variable's (which must
        be one), else the program of that name on PATH in lower case, else ""."""
        import shutil

        value = self._get(name, None)
        if value is None:
            return shutil.which(name.removesuffix("_BINARY").lower()) or ""
        path = Path(value).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ImproperlyConfigured(f"{name} must be the path of an executable file; got {value!r}.")
        return str(path.resolve())

    def seconds(self, name: str, default: float, maximum: float) -> float:
        """A duration from 0 to `maximum` seconds."""
        value = self.float(name, default)
        if not value <= maximum:  # also refuses nan
            raise ImproperlyConfigured(f"{name} must be from 0 to {maximum:g} seconds; got {value:g}.")
        return value

    def positive_int(self, name: str, default: int | None) -> int | None:
        value = self._get(name, None)
        if value is None:
            return default
        if not re.fullmatch(r"[1-9][0-9]{0,8}", value.strip()):
            raise ImproperlyConfigured(f"{name} must be a whole number of at least 1; got {value!r}.")
        return int(value)

    def port_range(self, name: str, default: range) -> range:
        """Ports LOW-HIGH, both included."""
        from runtimes.base import port_range

        value = self._get(name, None)
        if value is None:
            return default
        try:
            return port_range(value)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} {exc}.") from None

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self._get(name, None)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def networks(self, name: str) -> tuple:
        """Comma-separated IPv4/IPv6 networks in CIDR notation (a bare address is
        one host); a value that is not one, or has host bits set, stops the start."""
        try:
            return trusted_networks(self._get(name, ""))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} {exc}") from None

    def url(self, name: str, schemes: tuple[str, ...], default=_MISSING) -> str | None:
        value = self._get(name, default)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ImproperlyConfigured(f"{name} must be a {'/'.join(schemes)}:// URL with a host; got {value!r}.")
        return value

    def origin(self, name: str, default: str) -> str:
        """scheme://host only: what clients are given to connect to, ports apart."""
        value = self.url(name, schemes=("http", "https"), default=default)
        parts = urlsplit(value)
        if parts.port is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ImproperlyConfigured(f"{name} must be scheme://host, without port or path; got {value!r}.")
        return value.rstrip("/")

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self._get(name, default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
        return value

    def email_url(self, name: str, default: str) -> dict:
        """Django's EMAIL_* settings from one URL: console:// (print to stdout),
        locmem:// (kept in memory, for tests), dummy:// (dropped), or
        smtp://user:password@host:port, smtp+tls:// (STARTTLS), smtps:// (TLS)."""
        value = self._get(name, default)
        parts = urlsplit(value)
        simple = {"console": "console", "locmem": "locmem", "dummy": "dummy"}
        if parts.scheme in simple:
            if parts.netloc or parts.path not in ("", "/") or parts.query:
                raise ImproperlyConfigured(f"{name}: {parts.scheme}:// takes nothing after it; got {value!r}.")
            return {"EMAIL_BACKEND": f"django.core.mail.backends.{simple[parts.scheme]}.EmailBackend"}
        if parts.scheme not in ("smtp", "smtp+tls", "smtps"):
            raise ImproperlyConfigured(
                f"{name} must be console://, locmem://, dummy:// or smtp[+tls|s]://user:password@host:port; "
                f"got a URL with the scheme {parts.scheme!r}."
            )
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1 or parts.path not in ("", "/") or parts.query:
            # The value may hold a password: the message names the variable, not the value.
            raise ImproperlyConfigured(f"{name} must be {parts.scheme}://[user:password@]host[:port], nothing more.")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": port or {"smtps": 465, "smtp+tls": 587}.get(parts.scheme, 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": parts.scheme == "smtp+tls",
            "EMAIL_USE_SSL": parts.scheme == "smtps",
        }

    def database_url(self, name: str, default: str) -> dict:
        value = self._get(name, default)
        try:
            return dj_database_url.parse(value, conn_max_age=60)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} is not a database URL Django knows: {exc}") from None

    def secret(self, name: str, required: bool = True) -> str | None:
        """A secret: from the environment, else from var/secrets.env; never a default."""
        value = self.raw(name) or self._file_values.get(name)
        if not value and required:
            raise ImproperlyConfigured(
                f"{name} must be set in the environment or in var/secrets.env (`make secrets` writes one)."
            )
        return value

    def fernet_keys(self, name: str) -> list[str]:
        keys = [key.strip() for key in self.secret(name).split(",") if key.strip()]
        for key in keys:
            try:
                Fernet(key)
            except ValueError:
                raise ImproperlyConfigured(f"{name} must hold comma-separated Fernet keys.") from None
        return keys

    def peppers(self, name: str) -> dict[int, str]:
        """`id:secret` pairs, comma-separated: ids are positive integers, secrets at least 32 characters."""
        peppers: dict[int, str] = {}
        for item in self.secret(name).split(","):
            item = item.strip()
            if not item:
                continue
            pepper_id, sep, pepper = item.partition(":")
            if not sep or not re.fullmatch(r"[1-9][0-9]{0,8}", pepper_id):
                raise ImproperlyConfigured(f"{name} must hold comma-separated id:secret pairs, ids positive integers.")
            if int(pepper_id) in peppers:
                raise ImproperlyConfigured(f"{name} names pepper {pepper_id} twice.")
            if len(pepper) < 32:
                raise ImproperlyConfigured(f"{name}: pepper {pepper_id} must be at least 32 characters long.")
            peppers[int(pepper_id)] = pepper
        if not peppers:
            raise ImproperlyConfigured(f"{name} must hold at least one id:secret pair.")
        return peppers


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values
