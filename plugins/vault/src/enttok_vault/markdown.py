"""One note, parsed: front matter, title, headings, tags, links, word count and the
per-heading chunks the search index points into.

Front matter is YAML read by PyYAML (its C loader where libyaml is present); the body is read
by markdown-it-py, so a `[[link]]` or `#tag` inside code is not taken for one and headings are
the ones CommonMark sees, not every line that starts with `#`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

WIKI_LINK = re.compile(r"(!?)\[\[([^\[\]|#^\n]*)([#^][^\[\]|\n]*)?(?:\|([^\[\]\n]*))?\]\]")
# Obsidian's rule: a tag is `#` then letters, digits, `_`, `-` or `/`, not only digits.
INLINE_TAG = re.compile(r"(?<![\w#/&])#([\w/-]*[^\W\d][\w/-]*)")
WORD = re.compile(r"\w+")
FENCE = re.compile(r"^(?:---|\.\.\.)[ \t]*$")


@dataclass
class Link:
    kind: str  # "wiki", "markdown" or "external"
    target: str  # as written, without the #heading
    key: str | None  # what it resolves by: a lower-case path or name without `.md` (None if external)
    fragment: str | None
    label: str | None
    line: int
    embed: bool = False


@dataclass
class Chunk:
    ordinal: int
    heading: str | None
    level: int
    line: int  # 1-based, in the file
    text: str


@dataclass
class ParsedNote:
    title: str
    front_matter: dict[str, Any]
    tags: list[str]
    aliases: list[str]
    headings: list[dict[str, Any]]
    links: list[Link]
    word_count: int
    chunks: list[Chunk]
    warnings: list[str] = field(default_factory=list)


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _yaml_loader() -> type[yaml.SafeLoader]:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(the YAML between the fences or None, the body, the body's first line number, 0-based).

    A first line `---` without a closing `---` or `...` is not front matter: Obsidian shows it
    as text, and so does the index.
    """
    if not text.startswith("---"):
        return None, text, 0
    lines = text.splitlines(keepends=True)
    if not FENCE.match(lines[0].rstrip("\r\n")) or lines[0].startswith("..."):
        return None, text, 0
    for number, line in enumerate(lines[1:], start=1):
        if FENCE.match(line.rstrip("\r\n")):
            return "".join(lines[1:number]), "".join(lines[number + 1 :]), number + 1
    return None, text, 0


def parse_note(relative_path: str, text: str) -> ParsedNote:
    text = text.removeprefix("\ufeff")
    warnings: list[str] = []
    raw_front_matter, body, body_line = split_front_matter(text)
    front_matter: dict[str, Any] = {}
    if raw_front_matter is not None and raw_front_matter.strip():
        try:
            loaded = yaml.load(raw_front_matter, Loader=_yaml_loader())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 2}" if mark is not None else ""
            warnings.append(f"front matter is not valid YAML{where}; read as empty")
        else:
            if isinstance(loaded, dict):
                front_matter = {str(key): _jsonable(value) for key, value in loaded.items()}
            elif loaded is not None:
                warnings.append("front matter is not a mapping; read as empty")

    tokens = _markdown().parse(body)
    headings: list[dict[str, Any]] = []
    heading_spans: list[tuple[int, int]] = []  # body lines [start, end) of each heading
    links: list[Link] = []
    tags: list[str] = _names(front_matter.get("tags", front_matter.get("tag")))
    words = 0
    folder = str(PurePosixPath(relative_path).parent)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            inline = tokens[index + 1]
            headings.append(
                {"text": _plain(inline), "level": int(token.tag[1]), "line": token.map[0] + body_line + 1}
            )
            heading_spans.append((token.map[0], token.map[1]))
        if token.type == "inline":
            line = (token.map[0] if token.map else 0) + body_line + 1
            words += _inline_words_links_tags(token.children or [], folder, line, links, tags)
        elif token.type in ("fence", "code_block"):
            words += len(WORD.findall(token.content))

    title = _title(relative_path, front_matter, headings)
    chunks = _chunks(body, body_line, headings, heading_spans)
    return ParsedNote(
        title=title,
        front_matter=front_matter,
        tags=list(dict.fromkeys(tag.lower() for tag in tags)),
        aliases=_names(front_matter.get("aliases", front_matter.get("alias")), split=False),
        headings=headings,
        links=links,
        word_count=words,
        chunks=chunks,
        warnings=warnings,
    )


def note_key(relative_path: str) -> str:
    """How links find a note: its path without `.md`, lower-case."""
    return relative_path.removesuffix(".md").lower()


def _inline_words_links_tags(
    children: list[Token], folder: str, line: int, links: list[Link], tags: list[str]
) -> int:
    words = 0
    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type == "text":
            words += len(WORD.findall(child.content))
            for match in WIKI_LINK.finditer(child.content):
                target = match.group(2).strip()
                if target:
                    links.append(
                        Link(
                            "wiki",
                            target,
                            target.removesuffix(".md").lower(),
                            (match.group(3) or "")[1:] or None,
                            match.group(4),
                            line,
                            embed=bool(match.group(1)),
                        )
                    )
            tags.extend(match.group(1) for match in INLINE_TAG.finditer(WIKI_LINK.sub(" ", child.content)))
        elif child.type == "code_inline":
            words += len(WORD.findall(child.content))
        elif child.type in ("link_open", "image"):
            href = str(child.attrs.get("href") or child.attrs.get("src") or "")
            link = _markdown_link(href, folder, line, embed=child.type == "image")
            if link is not None:
                links.append(link)
    return words


def _markdown_link(href: str, folder: str, line: int, embed: bool) -> Link | None:
    if not href or href.startswith("#"):
        return None
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return Link("external", href, None, None, None, line, embed)
    target = unquote(parts.path)
    resolved = PurePosixPath(folder, target) if not target.startswith("/") else PurePosixPath(target[1:])
    normal: list[str] = []
    for part in resolved.parts:
        if part == "..":
            if normal:
                normal.pop()
        elif part not in (".", ""):
            normal.append(part)
    key = "/".join(normal).removesuffix(".md").lower()
    return Link("markdown", target, key, unquote(parts.fragment) or None, None, line, embed)


def _plain(inline: Token) -> str:
    return "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))


def _title(relative_path: str, front_matter: dict[str, Any], headings: list[dict[str, Any]]) -> str:
    declared = front_matter.get("title")
    if isinstance(declared, str | int | float) and str(declared).strip():
        return str(declared).strip()
    first = next((h["text"] for h in headings if h["level"] == 1 and h["text"].strip()), None)
    return first or PurePosixPath(relative_path).stem


def _chunks(
    body: str, body_line: int, headings: list[dict[str, Any]], spans: list[tuple[int, int]]
) -> list[Chunk]:
    """One chunk per heading (the text under it, up to the next heading), and one for any
    text before the first; a note with no text at all still has one, so its title is found."""
    lines = body.splitlines()
    sections = [(0, 0, None, 0)]
    sections += [(start, end, h["text"], h["level"]) for (start, end), h in zip(spans, headings, strict=True)]
    chunks: list[Chunk] = []
    for index, (start, text_start, heading, level) in enumerate(sections):
        end = sections[index + 1][0] if index + 1 < len(sections) else len(lines)
        text = "\n".join(lines[text_start:end]).strip()
        if heading is None and not text:
            continue
        chunks.append(Chunk(len(chunks), heading, level, start + body_line + 1, text))
    if not chunks:
        chunks.append(Chunk(0, None, 0, body_line + 1, ""))
    return chunks


def _names(value: Any, split: bool = True) -> list[str]:
    """Front matter tags (a list, or one string with commas or spaces) or aliases (a list or one)."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = re.split(r"[,\s]+", value) if split else [value]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    return [str(item).strip().lstrip("#") for item in items if item is not None and str(item).strip()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None  # no JSON form
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
