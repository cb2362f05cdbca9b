"""HTML -> readable plain text with the stdlib ``html.parser`` (no third-party parser).

Scripts, styles, the head and comments are dropped; block elements become line breaks, list
items start with ``- ``, links keep their target (``label (https://...)``), entities are
decoded. With ``strip_quotes=True`` the quoted history that mail clients wrap in known
containers is removed: Gmail ``div.gmail_quote``, ``blockquote type=cite`` (Apple Mail,
Thunderbird), Thunderbird ``div.moz-cite-prefix``, Yahoo ``yahoo_quoted``, and everything from
Outlook's ``divRplyFwdMsg`` / ``border-top`` "From:" header block or Hotmail's
``hr#stopSpelling`` to the end of the document.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_SKIP_CONTENT = frozenset({"script", "style", "head", "title", "template", "noscript", "object", "svg", "xml"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "details", "dialog", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "thead",
        "tfoot", "tr", "ul",
    }
)  # fmt: skip
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre"})
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix", "ydp", "protonmail_quote")
_BORDER_TOP = re.compile(r"border-top\s*:\s*solid", re.IGNORECASE)
_WS = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")
_BLANKS = re.compile(r"\n{3,}")


def _is_quote_container(tag: str, attrs: dict[str, str]) -> bool:
    classes = attrs.get("class", "").lower()
    if tag == "blockquote" and attrs.get("type", "").lower() == "cite":
        return True
    if tag in ("div", "blockquote", "section"):
        for name in classes.split():
            if name in ("gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-cite-prefix",
                        "protonmail_quote") or name.startswith("yahoo_quoted"):  # fmt: skip
                return True
    return False


def _is_cut_point(tag: str, attrs: dict[str, str]) -> bool:
    """Outlook/Hotmail reply header: everything from here on is quoted history."""
    ident = attrs.get("id", "").lower()
    if ident in ("divrplyfwdmsg", "stopspelling", "appendonsend"):
        return True
    # A border-top div is confirmed by the "From:" check in the parser.
    return tag == "div" and _BORDER_TOP.search(attrs.get("style", "")) is not None


class _TextExtractor(HTMLParser):
    def __init__(self, strip_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.strip_quotes = strip_quotes
        self.out: list[str] = []
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.pre_depth = 0
        self.links: list[tuple[str, int]] = []  # (href, index in out where the label starts)
        self.list_stack: list[list[int]] = []  # [ordered?, counter]
        self.cut = False
        self.pending_border_cut: int | None = None

    # -- helpers -------------------------------------------------------------------------
    def _newline(self, count: int = 1) -> None:
        """Ensure the output ends with at least ``count`` line breaks (blocks do not stack)."""
        existing = 0
        for chunk in reversed(self.out[-8:]):
            stripped = chunk.rstrip(" \t\n")
            existing += chunk[len(stripped) :].count("\n")
            if stripped:
                break
        if existing < count:
            self.out.append("\n" * (count - existing))

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:  # noqa: C901 - one branch per HTML element kind
        if self.cut:
            return
        if self.skip_tag is not None:
            if tag == self.skip_tag and tag not in _VOID:
                self.skip_depth += 1
            return
        attrs = {k.lower(): (v or "") for k, v in attrs_list}
        if tag in _SKIP_CONTENT:
            self.skip_tag, self.skip_depth = tag, 1
            return
        if self.strip_quotes:
            if _is_quote_container(tag, attrs):
                if tag not in _VOID:
                    self.skip_tag, self.skip_depth = tag, 1
                return
            if _is_cut_point(tag, attrs):
                if attrs.get("id", "") or tag == "hr":
                    self.cut = True
                    return
                self.pending_border_cut = len(self.out)
        if tag in _BLOCK:
            self._newline(2 if tag in _PARAGRAPH else 1)
        if tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self.out.append("\n" + "-" * 20 + "\n")
        elif tag == "pre":
            self.pre_depth += 1
        elif tag in ("ul", "ol"):
            self.list_stack.append([tag == "ol", 0])
        elif tag == "li":
            if self.list_stack and self.list_stack[-1][0]:
                self.list_stack[-1][1] += 1
                self.out.append(f"{self.list_stack[-1][1]}. ")
            else:
                self.out.append("- ")
        elif tag == "a":
            self.links.append((attrs.get("href", "").strip(), len(self.out)))
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "img":
            alt = attrs.get("alt", "").strip()
            if alt and not alt.lower().startswith(("cid:", "http")):
                self.out.append(f" [{alt}] ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.cut:
            return
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth <= 0:
                    self.skip_tag = None
            return
        if tag == "a" and self.links:
            href, index = self.links.pop()
            label = "".join(self.out[index:]).strip()
            target = href
            if target.lower().startswith("mailto:"):
                target = target[7:]
            if (
                href
                and not href.lower().startswith(("javascript:", "#", "cid:", "data:"))
                and label != target
                and label != href
                and _WS.sub("", label) != _WS.sub("", target)
            ):
                self.out.append(f" ({href})" if label else href)
        elif tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        elif tag in ("ul", "ol") and self.list_stack:
            self.list_stack.pop()
        if tag in _BLOCK:
            self._newline(2 if tag in _PARAGRAPH else 1)

    def handle_data(self, data: str) -> None:
        if self.cut or self.skip_tag is not None:
            return
        if self.pending_border_cut is not None:
            if not data.strip():
                return
            start = self.pending_border_cut
            self.pending_border_cut = None
            seen = "".join(self.out[start:]) + data
            if re.match(r"\s*(From|De|Von|Da|Van|Od|Fra|Från|Lähettäjä)\s*:", seen):
                del self.out[start:]
                self.cut = True
                return
        if self.pre_depth:
            self.out.append(data)
        else:
            self.out.append(_WS.sub(" ", data))

    def handle_comment(self, data: str) -> None:
        return

    def text(self) -> str:
        raw = "".join(self.out)
        lines = [line.strip(" \t\u00a0") for line in raw.split("\n")]
        text = "\n".join(lines)
        return _BLANKS.sub("\n\n", text).strip()


# A "<" that is not closed by ">" before the next "<" (or the end) cannot start a tag. The stdlib
# parser rescans such input from every "<" (quadratic: "<a " * 300_000 takes minutes), so those
# are escaped first, in one linear pass.
_UNTERMINATED_LT = re.compile(r"<(?=[^<>]*(?:<|\Z))")


def html_to_text(html: str, strip_quotes: bool = False) -> str:
    """Turn an HTML document or fragment into readable plain text; never raises.

    Runs in linear time on hostile input (unterminated tags are escaped before parsing).
    """
    parser = _TextExtractor(strip_quotes)
    try:
        parser.feed(_UNTERMINATED_LT.sub("&lt;", html))
        parser.close()
    except Exception:  # html.parser is lenient; keep what was extracted so far
        parser.out.append("")
    return parser.text()
