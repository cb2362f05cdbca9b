"""Helpers for the email corpus tests: the corpus is a byte-for-byte copy in tests/mail-corpus."""

from __future__ import annotations

from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "mail-corpus"


def corpus_files() -> list[str]:
    """Every ``.eml`` of the corpus, as paths relative to the corpus directory, sorted."""
    return sorted(path.relative_to(CORPUS_DIR).as_posix() for path in CORPUS_DIR.glob("**/*.eml"))


def load(name: str) -> bytes:
    """The raw bytes of corpus message ``name`` (e.g. ``"talon/aol.eml"``)."""
    return (CORPUS_DIR / name).read_bytes()
