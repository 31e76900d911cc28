"""Pseudonymous annotator ids: a keyed hash (HMAC-SHA256) of platform, community and member id.

The key is the deployment's export secret (POLICYBOT_EXPORT_SECRET): the same member maps to the same
id in every export of one deployment, and to unrelated ids under another deployment's secret. Without
the secret the ids cannot be recomputed from platform ids, so they cannot be reversed by guessing."""

from __future__ import annotations

import hashlib
import hmac

from bot.errors import CommandError

ID_HEX_CHARS = 20  # 80 bits: no collision among any realistic number of members

_NEED_KEY = (
    "Exports need a secret for the pseudonymous annotator ids: set POLICYBOT_EXPORT_SECRET (a long random "
    "string, e.g. from `python -c 'import secrets; print(secrets.token_hex(32))'`) and keep it private; "
    "nothing was exported."
)


def require_secret(secret: str | None) -> bytes:
    if secret is None or not secret.strip():
        raise CommandError(_NEED_KEY)
    if len(secret.strip()) < 16:
        raise CommandError("POLICYBOT_EXPORT_SECRET is too short to protect the annotator ids: use at least 16 characters.")
    return secret.strip().encode("utf-8")


def annotator_id(key: bytes, platform: str, community: str, member: str) -> str:
    message = "\x1f".join((platform, community, member)).encode("utf-8")
    return "a" + hmac.new(key, message, hashlib.sha256).hexdigest()[:ID_HEX_CHARS]


class Pseudonyms:
    """Annotator ids of one community's members, computed once per member."""

    def __init__(self, key: bytes, platform: str, community: str) -> None:
        self._key = key
        self.platform = platform
        self.community = community
        self._cache: dict[str, str] = {}

    def __call__(self, member: str) -> str:
        found = self._cache.get(member)
        if found is None:
            found = self._cache[member] = annotator_id(self._key, self.platform, self.community, member)
        return found
