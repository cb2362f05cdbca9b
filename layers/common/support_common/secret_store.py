"""Secrets Manager values read once per cold start and kept for a few minutes (a pasted secret
takes effect without a redeploy); nothing here logs or returns a secret beyond its caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

SECRET_CACHE_SECONDS = 300.0


class SecretValue:
    """One secret's current string, from GetSecretValue, cached for `ttl` seconds."""

    def __init__(
        self,
        client: Callable[[], SecretsManagerClient],
        secret_id: str,
        *,
        ttl: float = SECRET_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.secret_id = secret_id
        self._ttl = ttl
        self._clock = clock
        self._value: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        """The secret's string (AWS errors propagate: the caller decides what a missing key means)."""
        with self._lock:
            if self._value is None or self._clock() - self._read_at > self._ttl:
                resp = self._client().get_secret_value(SecretId=self.secret_id)
                self._value = str(resp.get("SecretString") or "")
                self._read_at = self._clock()
            return self._value

    def key(self) -> bytes:
        """The secret as HMAC key bytes."""
        return self.get().encode()
