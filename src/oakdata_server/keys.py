"""API keys: making them, telling their kind, hashing them.

A key is `oak_sec_` or `oak_pub_`, then a lookup id of 8 characters, then 32 random bytes in
url-safe base64. Only the sha256 of the whole key is stored: the key carries 256 random bits, so
a fast hash is already infeasible to invert and a slow password hash (bcrypt, scrypt) would only
cost time on every request. The lookup id finds the row; the hashes are then compared with
`hmac.compare_digest` so the comparison time says nothing about the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

KeyKind = Literal["secret", "public"]

SECRET_PREFIX = "oak_sec_"
PUBLIC_PREFIX = "oak_pub_"
LOOKUP_ID_LENGTH = 8
_KIND_PREFIX: dict[KeyKind, str] = {"secret": SECRET_PREFIX, "public": PUBLIC_PREFIX}


def generate_key(kind: KeyKind) -> str:
    lookup_id = secrets.token_hex(LOOKUP_ID_LENGTH // 2)
    return f"{_KIND_PREFIX[kind]}{lookup_id}{secrets.token_urlsafe(32)}"


def key_kind(key: str) -> KeyKind | None:
    if key.startswith(SECRET_PREFIX):
        return "secret"
    if key.startswith(PUBLIC_PREFIX):
        return "public"
    return None


def lookup_id(key: str) -> str:
    """The non-secret start of a key that names its row (`oak_sec_1a2b3c4d`); '' if no kind."""
    if key_kind(key) is None:
        return ""
    return key[: len(SECRET_PREFIX) + LOOKUP_ID_LENGTH]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def hashes_match(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def normalize_origin(origin: str) -> str:
    """Origins compare exactly, but case and a trailing slash are not meaningful differences."""
    return origin.strip().rstrip("/").lower()


def parse_origin(text: str) -> str:
    """The normalized origin, or ValueError saying why `text` cannot be one."""
    origin = text.strip()
    if "*" in origin:
        # Refused rather than matched: a wildcard would also admit any subdomain an attacker
        # can host content on, and CORS itself has no wildcard for credentials.
        raise ValueError(f"{origin!r}: wildcards are not supported; list each origin.")
    if not origin.startswith(("http://", "https://")) or "/" in origin.split("://", 1)[1]:
        raise ValueError(f"{origin!r} is not an origin like https://app.example.com.")
    return normalize_origin(origin)
