"""ID tokens that outlive the hour they are valid for: the stack runs for days.

`TokenRenewer` signs every user in again before its token expires (a new random password each
time: none is kept), so stack.json and the dashboard's demo sign-in always hand out a token with
at least `--token-margin` seconds left (default half an hour). A page signed in earlier gets a 401
once its token expires and asks its user to sign in again, as on AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from local.poller import Poller
from local.stack import Stack
from local.users import record_tokens, sign_in


def expires_at(token: str) -> float:
    """A JWT's `exp` (seconds since the epoch), read without verifying it; 0 when unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return 0.0


class TokenRenewer(Poller):
    """Signs users in again before their ID tokens expire: the stack's own users (`stack.info`,
    which the demo sign-in reads) and those `python -m local.users add` wrote into stack.json."""

    name = "users"
    interval = 60.0

    def __init__(self) -> None:
        super().__init__()
        self.stack: Stack | None = None
        self.idp: Any = None
        self.margin = 1800.0

    def setup(self, stack: Stack) -> None:
        self.stack = stack
        self.idp = stack.client("cognito-idp")
        self.margin = stack.config.token_margin
        self.interval = stack.config.token_check_interval
        self.log.info("tokens renewed when less than %.0fs remain", self.margin)

    def tick(self) -> None:
        assert self.stack is not None
        stack, file = self.stack, self.stack.config.stack_file
        tokens: dict[str, str] = stack.info.setdefault("tokens", {})
        on_file = json.loads(file.read_text()).get("tokens", {}) if file.exists() else {}
        names = {**(stack.info.get("demo_users") or {})}
        renewed: dict[str, str] = {}
        for key in sorted(set(tokens) | set(on_file)):
            if self.stopping:
                return
            current = tokens.get(key) or on_file[key]
            if expires_at(current) - time.time() > self.margin:
                continue
            renewed[key] = sign_in(
                self.idp, stack.names["user_pool_id"], stack.names["user_pool_client_id"], names.get(key, key)
            )
        if not renewed:
            return
        tokens.update({key: value for key, value in renewed.items() if key in tokens})
        if file.exists():
            record_tokens(file, renewed)
        self.log.info("renewed the ID tokens of %d user(s)", len(renewed))
