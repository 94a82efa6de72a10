"""Writes var/secrets.env once per install: the secrets `make run` needs.

Run as `python -m console.secrets_file`. An existing file is left alone, so
the keys that encrypt cluster master keys survive restarts and upgrades.
"""

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def write_secrets_file(path: Path) -> bool:
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    content = (
        "# Generated once by `make secrets`; keep it, or clusters' master keys cannot be decrypted.\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"CLUSTER_KEY_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        f"DEMO_PASSWORD={secrets.token_urlsafe(12)}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return True


if __name__ == "__main__":
    target = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parent.parent / "var") / "secrets.env"
    if write_secrets_file(target):
        print(f"wrote {target}", file=sys.stderr)
