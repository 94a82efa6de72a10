"""Writes var/secrets.env: the secrets `make run` needs, generated with `secrets`.

Run as `python -m console.secrets_file`. A new install gets a new file; an
existing file keeps every value it has and only gains the secrets a newer
version needs (appended at the end), so the keys that encrypt cluster master
keys and the peppers of database API key digests survive restarts and upgrades.
"""

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

from console.env import var_dir

HEADER = "# Generated once by `make secrets`; keep it, or clusters' master keys cannot be decrypted.\n"

# name -> how to generate a fresh value, in the order a new file lists them.
GENERATORS: dict[str, Callable[[], str]] = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "CLUSTER_KEY_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
    "DEMO_PASSWORD": lambda: secrets.token_urlsafe(12),
    # id:secret pairs, comma-separated; the highest id digests new database
    # API keys, older ones still verify the keys they digested.
    "API_KEY_PEPPERS": lambda: f"1:{secrets.token_urlsafe(32)}",
}


def write_secrets_file(path: Path) -> list[str]:
    """Creates the file, or appends the secrets it lacks; returns the names written."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(HEADER + "".join(f"{name}={generate()}\n" for name, generate in GENERATORS.items()))
        return list(GENERATORS)

    text = path.read_text()
    present = {
        line.partition("=")[0].strip()
        for line in text.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    missing = [name for name in GENERATORS if name not in present]
    if missing:
        with path.open("a") as handle:
            if text and not text.endswith("\n"):
                handle.write("\n")
            handle.write("".join(f"{name}={GENERATORS[name]()}\n" for name in missing))
    return missing


if __name__ == "__main__":
    target = var_dir() / "secrets.env"
    written = write_secrets_file(target)
    if written:
        print(f"wrote {', '.join(written)} to {target}", file=sys.stderr)
