"""A fake `claude` executable, written from Claude Code's documented print mode, for tests to
put on PATH or in CLAUDE_BIN.

It speaks `--output-format stream-json`: a `system`/`init` message, `assistant` messages
(text and tool_use blocks), `user` messages carrying tool_result blocks, and a `result`
message with `session_id`, `total_cost_usd`, `usage`, `num_turns` and `is_error`. Like the
real CLI it refuses stream-json without `--verbose`, reads its standard input to the end
before it starts (so it hangs if stdin is left open), keeps conversations so that
`--resume <session_id>` continues one (an unknown id fails), and answers `--version`.

A prompt may start with directives in brackets, `[fake: tool slow=30 spawn]`:

- `tool`: a Bash tool call and its result before the answer;
- `slow=N`: stream a `thinking` assistant message every 0.1 s for N seconds first;
- `spawn`: start a child process (a sleeper, in the CLI's process group) first, its pid
  written to `children/`;
- `stubborn`: ignore SIGTERM (the CLI and its child), so only SIGKILL ends them;
- `fail`: exit 1 with an API error on stderr and no result;
- `error`: end with a `result` whose `is_error` is true;
- `noise`: print a line that is not JSON.

Every invocation's arguments are appended to `calls.jsonl`.
"""

from __future__ import annotations

import json
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = r"""#!{python}
import json, os, re, signal, subprocess, sys, time, uuid

HOME = {home!r}
MODEL = "claude-sonnet-4-5-20250929"


def emit(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv):
    with open(os.path.join(HOME, "calls.jsonl"), "a") as calls:
        calls.write(json.dumps({{"argv": argv, "pid": os.getpid(), "cwd": os.getcwd()}}) + "\n")
    if argv[:1] == ["--version"]:
        print("2.0.0 (Claude Code)")
        return 0
    options, prompt, index = {{}}, None, 0
    flags = {{"-p", "--print", "--verbose"}}
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            prompt = " ".join(argv[index + 1:])
            break
        if arg in flags:
            options[arg] = True
        elif arg == "--allowedTools":
            tools = []
            while index + 1 < len(argv) and not argv[index + 1].startswith("-"):
                index += 1
                tools.append(argv[index])
            options[arg] = tools
        elif arg.startswith("--"):
            index += 1
            options[arg] = argv[index]
        else:
            prompt = arg
        index += 1
    if "-p" not in options and "--print" not in options:
        sys.stderr.write("fake claude: only print mode is faked\n")
        return 2
    if options.get("--output-format") == "stream-json" and "--verbose" not in options:
        sys.stderr.write("Error: When using --print, --output-format=stream-json requires --verbose\n")
        return 1
    sys.stdin.read()  # the real CLI reads piped input to its end before it starts
    if not prompt:
        sys.stderr.write("Error: Input must be provided either through stdin or as a prompt argument when using --print\n")
        return 1
    directives = set()
    match = re.match(r"\[fake:([^\]]*)\]\s*", prompt)
    if match:
        directives = set(match.group(1).split())
        prompt = prompt[match.end():]
    settings = dict(d.split("=", 1) for d in directives if "=" in d)
    sessions = os.path.join(HOME, "sessions")
    os.makedirs(sessions, exist_ok=True)
    resume = options.get("--resume")
    if resume:
        path = os.path.join(sessions, resume + ".json")
        if not os.path.exists(path):
            sys.stderr.write("No conversation found with session ID: " + resume + "\n")
            return 1
        with open(path) as handle:
            history = json.load(handle)
        session_id = resume
    else:
        history, session_id = [], str(uuid.uuid4())
    if "stubborn" in directives:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    model = options.get("--model", MODEL)
    emit({{"type": "system", "subtype": "init", "cwd": os.getcwd(), "session_id": session_id,
          "tools": ["Task", "Bash", "Read", "Edit", "Write"], "mcp_servers": [], "model": model,
          "permissionMode": "default", "slash_commands": [], "apiKeySource": "none",
          "output_style": "default", "uuid": str(uuid.uuid4())}})
    history.append(prompt)
    with open(os.path.join(sessions, session_id + ".json"), "w") as handle:
        json.dump(history, handle)
    if "spawn" in directives:
        code = "import signal, time\n"
        if "stubborn" in directives:
            code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        code += "time.sleep(600)\n"
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
        os.makedirs(os.path.join(HOME, "children"), exist_ok=True)
        with open(os.path.join(HOME, "children", str(child.pid)), "w") as handle:
            handle.write(str(os.getpid()))
    def assistant(content):
        emit({{"type": "assistant", "message": {{"id": "msg_" + uuid.uuid4().hex[:24], "type": "message",
              "role": "assistant", "model": model, "content": content, "stop_reason": None,
              "stop_sequence": None, "usage": {{"input_tokens": 12, "output_tokens": 7}}}},
              "parent_tool_use_id": None, "session_id": session_id, "uuid": str(uuid.uuid4())}})
    deadline = time.monotonic() + float(settings.get("slow", 0))
    while time.monotonic() < deadline:
        assistant([{{"type": "thinking", "thinking": "Considering the request...", "signature": "sig"}}])
        time.sleep(0.1)
    if "noise" in directives:
        print("npm WARN this line is not JSON", flush=True)
    turns = 1
    if "tool" in directives:
        tool_id = "toolu_" + uuid.uuid4().hex[:24]
        assistant([{{"type": "tool_use", "id": tool_id, "name": "Bash",
                    "input": {{"command": "git log --oneline -3", "description": "Recent commits"}}}}])
        emit({{"type": "user", "message": {{"role": "user", "content": [{{"tool_use_id": tool_id,
              "type": "tool_result", "content": "abc123 first\ndef456 second", "is_error": False}}]}},
              "parent_tool_use_id": None, "session_id": session_id, "uuid": str(uuid.uuid4())}})
        turns = 2
    if "fail" in directives:
        sys.stderr.write("API Error: 529 {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\"}}}}\n")
        return 1
    if prompt.startswith("Draft the work journal entry"):
        lines = [line for line in prompt.splitlines() if line.startswith("- ")]
        answer = "# Journal\n\n" + "\n".join("- " + line.split("] ", 1)[1] for line in lines)
    else:
        answer = "Turn %d: you said %s" % (len(history), prompt)
    assistant([{{"type": "text", "text": answer}}])
    is_error = "error" in directives
    emit({{"type": "result", "subtype": "success", "is_error": is_error, "duration_ms": 1234,
          "duration_api_ms": 1100, "num_turns": turns,
          "result": "Invalid API key · Please run /login" if is_error else answer,
          "session_id": session_id, "total_cost_usd": 0.0125,
          "usage": {{"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                    "output_tokens": 7, "server_tool_use": {{"web_search_requests": 0}},
                    "service_tier": "standard"}},
          "permission_denials": [], "uuid": str(uuid.uuid4())}})
    return 0


sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class FakeClaude:
    home: Path
    """Its state: `calls.jsonl`, `sessions/`, `children/`."""

    @property
    def binary(self) -> Path:
        return self.home / "bin" / "claude"

    def calls(self) -> list[dict[str, Any]]:
        path = self.home / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def children(self) -> list[int]:
        """The pids of the child processes spawned by `spawn` runs."""
        folder = self.home / "children"
        return [int(path.name) for path in folder.iterdir()] if folder.exists() else []

    def history(self, session_id: str) -> list[str]:
        return json.loads((self.home / "sessions" / f"{session_id}.json").read_text())


def install(home: Path) -> FakeClaude:
    """Write the fake into `home/bin/claude`."""
    fake = FakeClaude(home)
    fake.binary.parent.mkdir(parents=True, exist_ok=True)
    fake.binary.write_text(SCRIPT.format(python=sys.executable, home=str(home)))
    fake.binary.chmod(fake.binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
    return fake


def alive(pid: int) -> bool:
    """Whether `pid` is a live process: in /proc and not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def state(pid: int) -> str | None:
    """`/proc/<pid>/stat`'s state letter (Z: a zombie), or None once the pid is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None
