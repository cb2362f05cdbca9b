"""Unit tests run without a network: any socket connection is a test failure."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class NetworkForbidden(AssertionError):
    """A unit test tried to open a connection."""


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkForbidden(f"unit tests cannot open sockets: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
