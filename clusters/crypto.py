"""Encryption at rest for clusters' master API keys.

MultiFernet over settings.CLUSTER_KEY_ENCRYPTION_KEYS: the first key
encrypts, any key decrypts, so a new key can be put in front and every
cluster re-encrypted (`manage.py rotate_master_keys`) without losing one.
"""

import secrets

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.CLUSTER_KEY_ENCRYPTION_KEYS])


def new_master_key() -> str:
    # 32 random bytes, URL-safe text: Qdrant signs JWTs with the raw UTF-8
    # bytes of its api_key, and warns when that is shorter than 32 bytes.
    return secrets.token_urlsafe(32)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()
