"""A bounded, seeded soak of a fresh local stack: memory, latency and paging hold up under mixed load.

The full run (50,000 requests) is `make load`; this one fits CI. Its bounds compare the stack with
itself (growth since the warm-up, the last window's median latency over the first's), never
absolute times.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from local.soak import Soak, SoakConfig, report, soak

pytestmark = pytest.mark.e2e

MAX_RSS_GROWTH_MB = 60  # measured: 7 MB; before the adapter: 340 MB after only 300 of these requests
MAX_LATENCY_RATIO = 2.0


@pytest.mark.timeout(900)
def test_soak_mixed_load_memory_bounded_latency_flat_every_urgent_paged_once(tmp_path: Path) -> None:
    # GIVEN a fresh stack, two customer clients of two tenants and a staff client at once, and a mail burst
    config = SoakConfig(requests=1500, clients=2, mail=20, windows=5, seed=9)
    # WHEN 1,500 seeded mixed requests run: creates, urgent incidents, comments, cancelled transactions, lists
    result = soak(config, tmp_path / "stack")
    figures = report(result)
    # THEN nothing failed and every ticket accepted (by API or mail) can be read
    assert not result.errors, figures
    assert result.counts["cancelled"] > 50 and result.counts["comment"] > 200, figures
    assert not result.unreadable and not result.mails_missing, figures
    # AND every urgent incident paged exactly once, those created after a cancelled transaction too
    assert result.urgent_after_cancel > 5, figures
    assert not result.unpaged and not result.unexpected_pages, figures
    # AND memory grew by little, and the last window is about as fast as the first
    assert result.rss_end_mb - result.rss_start_mb < MAX_RSS_GROWTH_MB, figures
    assert result.latency_ratio < MAX_LATENCY_RATIO, figures


class _OnlyNewToken(BaseHTTPRequestHandler):
    """An API that has moved on to renewed tokens: the old one is a 401, as once it expires."""

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == "Bearer new-customer"
        body = json.dumps({"items": []} if ok else {"message": "Unauthorized"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_soak_client_after_401_reads_renewed_token_from_stack_json(tmp_path: Path) -> None:
    # GIVEN a soak client holding the start's tokens, and a stack.json where the stack renewed them
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OnlyNewToken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start = {"customer": "old-customer", "support": "old-support", "bob@globex.example": "old-bob"}
        stack_file = tmp_path / "stack.json"
        stack_file.write_text(json.dumps({"tokens": {**start, "customer": "new-customer"}}))
        stack = SimpleNamespace(
            info={"api_url": f"http://127.0.0.1:{server.server_address[1]}", "tokens": start, "pid": 0},
            stack_file=stack_file,
        )
        client = Soak(SoakConfig(), stack)  # type: ignore[arg-type]
        # WHEN it sends a request with the old token, then another
        first = client._request("GET", "/tickets", "old-customer")
        second = client._request("GET", "/tickets", "old-customer")
        # THEN the 401 made it read the renewed token and retry, and later requests use it at once
        assert first[0] == 200 and second[0] == 200
        assert client.result.counts["token renewed"] == 1
        # AND a token the stack did not renew stays a 401 (no retry loop)
        assert client._request("GET", "/tickets", "old-support")[0] == 401
    finally:
        server.shutdown()
