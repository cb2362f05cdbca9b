"""RFC 3676 ``format=flowed`` text: soft line breaks rejoined into paragraphs.

A line ending in a space is "flowed": it continues on the next line of the same quote depth.
With ``DelSp=yes`` that trailing space was added by the sender and is deleted when joining;
without it the space stays (it separates the words). A leading space after the quote marks
is space-stuffing and is removed. The signature separator ``-- `` is never flowed. Quoted
paragraphs keep their ``>`` marks (one per depth, then a space) so quote trimming still sees
them.
"""

from __future__ import annotations

__all__ = ["unflow"]


def unflow(text: str, delsp: bool = False) -> str:
    """Rejoin the soft line breaks of ``format=flowed`` ``text`` (lines separated by ``\\n``)."""
    out: list[str] = []
    current: list[str] = []
    current_depth = -1
    joining = False
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if joining and (depth != current_depth or content == "-- "):
            joining = False  # a quote-depth change or a signature ends a paragraph (RFC 3676 4.5)
        if not joining:
            if current_depth >= 0:
                out.append(_render(current_depth, current))
            current, current_depth = [], depth
        current.append(content[:-1] if flowed and delsp else content)
        joining = flowed
    if current_depth >= 0:
        out.append(_render(current_depth, current))
    return "\n".join(out)


def _render(depth: int, pieces: list[str]) -> str:
    joined = "".join(pieces)
    if depth == 0:
        return joined
    return ">" * depth + " " + joined
