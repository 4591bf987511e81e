"""The `enttok` command: `serve`, `plugins`, and `jobs` (a client of a running host)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from enttok import __version__
from enttok.config import ConfigError, RuntimeConfig
from enttok.exits import Exit

TERMINAL = ("succeeded", "failed", "canceled")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"enttok: {error}", file=sys.stderr)
        return Exit.CONFIG
    except ClientError as error:
        print(f"enttok: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enttok", description="The enttok host and its client.")
    parser.add_argument("--version", action="version", version=f"enttok {__version__}")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser(
        "serve",
        help="run the host (configured by BACKEND_* / APP_DATA_DIR / LOG_DIR)",
        epilog="exit codes (enttok.exits): "
        + ", ".join(f"{int(code)} {code.name.lower().replace('_', ' ')}" for code in Exit),
    )
    serve.add_argument("--parent-watch", action="store_true", help="also exit when stdin closes")
    serve.set_defaults(run=_serve)

    plugins = commands.add_parser("plugins", help="list discovered plugins, their job types and failures")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plugins.set_defaults(run=_plugins)

    scaffold = commands.add_parser("new-plugin", help="write a ready-to-test connector package")
    scaffold.add_argument("name", help="the plugin's name, lower_snake_case")
    scaffold.add_argument("--dir", default=".", help="where to write enttok-<name>/ (default: here)")
    scaffold.set_defaults(run=_new_plugin)

    jobs = commands.add_parser("jobs", help="submit and list jobs on a running host")
    jobs_commands = jobs.add_subparsers(title="jobs commands")
    submit = jobs_commands.add_parser("submit", help="submit a job")
    submit.add_argument("type")
    submit.add_argument("--payload", default="{}", help="the payload as JSON")
    submit.add_argument("--dedupe-key")
    submit.add_argument("--wait", action="store_true", help="wait for the job to end; exit 0 if it succeeded")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits")
    submit.set_defaults(run=_submit)
    listing = jobs_commands.add_parser("list", help="list jobs, newest first")
    listing.add_argument("--status")
    listing.add_argument("--type")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=_list)
    for command in (submit, listing):
        command.add_argument("--url", help="the host's base URL (default: the running host of APP_DATA_DIR)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from enttok.server import serve

    return serve(RuntimeConfig.from_env(), parent_watch=args.parent_watch)


def _new_plugin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from enttok.scaffold import ScaffoldError, new_plugin

    try:
        target = new_plugin(args.name, Path(args.dir))
    except ScaffoldError as error:
        print(f"enttok: {error}", file=sys.stderr)
        return 2
    print(f"wrote {target}\nnext: cd {target} && uv run pytest")
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from enttok.host import Host

    config = RuntimeConfig.from_env()
    host = Host(config)
    described = [host.describe_plugin(record) for record in host.plugins.records.values()]
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    rows = [("PLUGIN", "VERSION", "STATE", "JOB TYPES", "SCHEDULES")]
    for plugin in described:
        schedules = ", ".join(
            f"{s['id']} ({'on' if s['enabled_by_default'] else 'off'})" for s in plugin["schedules"]
        )
        rows.append(
            (
                plugin["name"],
                plugin["version"] or "-",
                plugin["state"],
                ", ".join(t["name"] for t in plugin["job_types"]) or "-",
                schedules or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    for plugin in described:
        if plugin["error"]:
            print(f"\n{plugin['name']} failed: {plugin['error']}")
    return 1 if any(plugin["error"] for plugin in described) else 0


class ClientError(Exception):
    pass


class _Client:
    def __init__(self, url: str | None) -> None:
        import httpx

        token = os.environ.get("BACKEND_TOKEN")
        if not token:
            raise ClientError("set BACKEND_TOKEN to the running host's token")
        self._http = httpx.Client(
            base_url=url or _running_host_url(), headers={"X-Backend-Token": token}, timeout=30
        )

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ClientError(f"cannot reach the host at {self._http.base_url}: {error}") from None
        body = response.json()
        if response.status_code >= 400:
            raise ClientError(f"{response.status_code} {body.get('error', {}).get('message', body)}")
        return body


def _running_host_url() -> str:
    config = RuntimeConfig.from_env()
    if config.port:
        return f"http://127.0.0.1:{config.port}"
    runtime = config.database_path.parent / "host.json"
    try:
        port = json.loads(runtime.read_text())["port"]
    except (OSError, ValueError, KeyError):
        raise ClientError(
            f"no running host found for {config.data_dir}; pass --url or set BACKEND_PORT"
        ) from None
    return f"http://127.0.0.1:{port}"


def _submit(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError as error:
        raise ClientError(f"--payload is not JSON: {error}") from None
    client = _Client(args.url)
    body: dict[str, Any] = {"type": args.type, "payload": payload}
    if args.dedupe_key:
        body["dedupe_key"] = args.dedupe_key
    created = client.call("POST", "/jobs", json=body)
    if not args.wait:
        print(json.dumps(created))
        return 0
    deadline = time.monotonic() + args.timeout
    while (job := client.call("GET", f"/jobs/{created['job_id']}"))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise ClientError(f"job {created['job_id']} is still {job['status']} after {args.timeout:g}s")
        time.sleep(0.2)  # a CLI polling a host it does not own; the app uses the event stream
    print(json.dumps(job, indent=2))
    return 0 if job["status"] == "succeeded" else 1


def _list(args: argparse.Namespace) -> int:
    params = {key: value for key in ("status", "type", "limit") if (value := getattr(args, key)) is not None}
    jobs = _Client(args.url).call("GET", "/jobs", params=params)["jobs"]
    for job in jobs:
        progress = "" if job["progress"] is None else f"{job['progress']:.0%}"
        print(f"{job['job_id']}  {job['type']:<24} {job['status']:<10} {progress:>5}  {job['created_at']}")
    return 0
