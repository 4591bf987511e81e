"""What the CLI's stream-json messages mean for a job: a short line for the app to show
live, and the run's outcome once the `result` message arrives.

The shapes are Claude Code's: `{"type": "system", "subtype": "init", "session_id", "model",
"tools", ...}` first; `{"type": "assistant", "message": {"content": [text | tool_use |
thinking blocks], ...}}` and `{"type": "user", "message": {"content": [tool_result
blocks]}}` while it works; `{"type": "result", "subtype", "is_error", "result",
"session_id", "total_cost_usd", "usage", "num_turns", "duration_ms"}` last. A message of a
type this does not know is still shown, by its type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Characters of a message an event carries: the job's events are a log, not the transcript.
SUMMARY_LIMIT = 200


def clip(text: str, limit: int = SUMMARY_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Transcript:
    """The run as streamed so far."""

    session_id: str | None = None
    model: str | None = None
    texts: list[str] = field(default_factory=list)
    tool_uses: int = 0
    messages: int = 0
    result: dict[str, Any] | None = None

    def add(self, message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Take one message; return its summary and the small fields its event carries."""
        self.messages += 1
        kind = str(message.get("type", "unknown"))
        if isinstance(message.get("session_id"), str):
            self.session_id = message["session_id"]
        data: dict[str, Any] = {"kind": kind}
        if kind == "system":
            subtype = str(message.get("subtype", ""))
            data["subtype"] = subtype
            if subtype == "init":
                if isinstance(message.get("model"), str):
                    self.model = message["model"]
                tools = message.get("tools") if isinstance(message.get("tools"), list) else []
                data["session_id"] = self.session_id
                return clip(
                    f"Claude started session {self.session_id} ({self.model}, {len(tools)} tools)"
                ), data
            return clip(f"Claude: {subtype or 'system message'}"), data
        if kind == "assistant":
            return self._assistant(_content(message), data)
        if kind == "user":
            return _tool_results(_content(message), data)
        if kind == "result":
            self.result = message
            data.update(subtype=message.get("subtype"), is_error=bool(message.get("is_error")))
            cost = message.get("total_cost_usd")
            spent = f", ${cost:.4f}" if isinstance(cost, int | float) else ""
            turns = message.get("num_turns")
            return clip(f"Claude finished: {message.get('subtype', 'done')}{spent}, {turns} turns"), data
        return clip(f"Claude: {kind} message"), data

    def _assistant(self, blocks: list[dict[str, Any]], data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        parts = []
        for block in blocks:
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                self.texts.append(block["text"])
                parts.append(block["text"])
            elif block.get("type") == "tool_use":
                self.tool_uses += 1
                name = str(block.get("name", "a tool"))
                data["tool"] = name
                parts.append(f"uses {name} {_brief(block.get('input'))}".rstrip())
            elif block.get("type") == "thinking":
                parts.append("thinks")
        return clip("Claude: " + (" · ".join(parts) or "…")), data

    def text(self) -> str:
        """The answer: the result message's text, else what the assistant said."""
        if self.result is not None and isinstance(self.result.get("result"), str):
            return self.result["result"]
        return "\n\n".join(self.texts)


def _content(message: dict[str, Any]) -> list[dict[str, Any]]:
    body = message.get("message")
    content = body.get("content") if isinstance(body, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, dict)]


def _tool_results(blocks: list[dict[str, Any]], data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    parts = []
    for block in blocks:
        if block.get("type") != "tool_result":
            continue
        content = block.get("content")
        size = len(content) if isinstance(content, str) else len(str(content or ""))
        if block.get("is_error"):
            data["is_error"] = True
            parts.append(f"tool error: {_text_of(content)}")
        else:
            parts.append(f"tool result ({size} characters)")
    return clip(" · ".join(parts) or "Claude: user message"), data


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(item.get("text", "")) for item in content if isinstance(item, dict))
    return str(content or "")


def _brief(tool_input: Any) -> str:
    """The most telling argument of a tool call: its command, path, pattern or URL."""
    if not isinstance(tool_input, dict):
        return ""
    for key in ("command", "file_path", "path", "pattern", "url", "query", "description"):
        if isinstance(tool_input.get(key), str):
            return clip(tool_input[key], 120)
    return ""
