"""A page's body, in Confluence's storage format (XHTML with `ac:` and `ri:` elements), as
the short plain text the journal shows.

The standard library's `html.parser` reads it as a browser would tokenise it, so entities,
comments, attributes holding `>` and CDATA sections (code macros, link bodies) come out right,
which no regular expression over markup does.
"""

from __future__ import annotations

from html.parser import HTMLParser

EXCERPT_LENGTH = 300

BLOCKS = frozenset(
    {
        "p", "div", "br", "hr", "li", "ul", "ol", "tr", "td", "th", "table", "blockquote", "pre",
        "h1", "h2", "h3", "h4", "h5", "h6", "ac:task", "ac:layout-cell", "ac:structured-macro",
    }
)  # fmt: skip
"""Elements that separate text: their words are not run into their neighbours'."""

SKIPPED = frozenset({"script", "style", "ac:parameter", "ac:placeholder", "ac:task-id", "ac:task-status"})
"""Elements whose content is not prose: macro parameters, editor placeholders, task state."""


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[list[str]] = [[]]
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self._skipping += 1
        elif tag in BLOCKS:
            self.lines.append([])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.lines.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in BLOCKS:
            self.lines.append([])

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.lines[-1].append(data)

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA[") and not self._skipping:  # a code block, a link's text
            self.lines[-1].append(data.removeprefix("CDATA["))


def plain_text(storage: str) -> str:
    """The text of a storage-format body: one line per block, spaces collapsed."""
    parser = _Text()
    parser.feed(storage)
    parser.close()
    lines = (" ".join("".join(parts).split()) for parts in parser.lines)
    return "\n".join(line for line in lines if line)


def excerpt(storage: str | None, length: int = EXCERPT_LENGTH) -> str | None:
    """The first `length` characters of the body's text, cut at a word, on one line."""
    if not storage:
        return None
    text = " ".join(plain_text(storage).split())
    if len(text) <= length:
        return text or None
    head = text[: length + 1]  # a word that ends right at the limit is kept whole
    cut = head.rsplit(" ", 1)[0] if " " in head else text[:length]
    return cut.rstrip(" ,;:.") + "…"
