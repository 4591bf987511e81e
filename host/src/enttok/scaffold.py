"""`enttok new-plugin NAME [--dir DIR]`: write a ready-to-test connector package from
`templates/connector`.

Templates use `string.Template` placeholders (`${name}`, `${enttok_source}`); the directory
`src/package` becomes `src/enttok_<name>`. What it writes passes its own tests, the
conformance suite and ruff as is, under `uv run pytest` in the new directory.

Where `enttok` comes from decides one table of the new `pyproject.toml`, so that `uv run`
resolves it with no further step:
- the package lands in a uv workspace that already provides `enttok` (the enttok checkout's
  `plugins/`): nothing, the workspace's own source applies;
- enttok runs from a source checkout (not installed from the package registry): a
  `[tool.uv.sources]` path entry pointing at that checkout's `host/`, editable;
- enttok was installed from the registry: nothing, `enttok` resolves by name there.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from enttok.plugins import PLUGIN_NAME

TEMPLATE = files("enttok") / "templates" / "connector"


class ScaffoldError(ValueError):
    pass


def new_plugin(name: str, directory: Path) -> Path:
    """Write `enttok-<name>/` under `directory`; its path."""
    if not PLUGIN_NAME.fullmatch(name):
        raise ScaffoldError(f"plugin name {name!r} must be lower_snake_case, e.g. my_tracker")
    target = directory / f"enttok-{name}"
    if target.exists():
        raise ScaffoldError(f"{target} already exists")
    values = {"name": name, "enttok_source": enttok_source(target)}
    for source, relative in _templates(TEMPLATE, Path()):
        destination = target / Path(
            *(f"enttok_{name}" if part == "package" else part for part in relative.parts)
        )
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(Template(source.read_text()).substitute(values))
    return target


def enttok_source(target: Path) -> str:
    """The `[tool.uv.sources]` table a package at `target` needs to find enttok, or ""."""
    if _workspace_provides_enttok(target.resolve()):
        return ""
    host = host_checkout()
    if host is None:
        return ""
    try:
        where = Path(os.path.relpath(host, target.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        where = host.as_posix()
    return (
        "# enttok from its source checkout; delete this table to take enttok from the package registry.\n"
        f'[tool.uv.sources]\nenttok = {{ path = "{where}", editable = true }}\n\n'
    )


def host_checkout() -> Path | None:
    """The `host/` directory of the enttok checkout this code runs from, or None when enttok
    was installed as a built package."""
    package = Path(__file__).resolve().parent  # .../host/src/enttok
    host = package.parents[1]
    try:
        project = tomllib.loads((host / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return host if project.get("project", {}).get("name") == "enttok" else None


def _workspace_provides_enttok(target: Path) -> bool:
    """Whether `target` would be a member of a uv workspace whose root gives `enttok` a source."""
    for root in target.parents:
        try:
            config = tomllib.loads((root / "pyproject.toml").read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        uv = config.get("tool", {}).get("uv", {})
        workspace = uv.get("workspace")
        if workspace is None:
            continue
        relative = target.relative_to(root).as_posix()
        member = any(fnmatch.fnmatchcase(relative, glob) for glob in workspace.get("members", []))
        excluded = any(fnmatch.fnmatchcase(relative, glob) for glob in workspace.get("exclude", []))
        return member and not excluded and "enttok" in uv.get("sources", {})
    return False


def _templates(folder: Traversable, relative: Path) -> list[tuple[Traversable, Path]]:
    found = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found += _templates(entry, relative / entry.name)
        elif entry.name.endswith(".tmpl"):
            found.append((entry, relative / entry.name.removesuffix(".tmpl")))
    return found
