"""A bounded, seeded soak of a fresh local stack: memory, latency and paging hold up under mixed load.

The full run (50,000 requests) is `make load`; this one fits CI. Its bounds compare the stack with
itself (growth since the warm-up, the last window's median latency over the first's), never
absolute times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local.soak import SoakConfig, report, soak

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
