"""`enttok new-plugin NAME`: write a ready-to-test connector package from `templates/connector`.

Templates use `string.Template` placeholders (`${name}`); the directory `src/package` becomes
`src/enttok_<name>`. What it writes passes its own tests and the conformance suite as is.
"""

from __future__ import annotations

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
    for source, relative in _templates(TEMPLATE, Path()):
        destination = target / Path(
            *(f"enttok_{name}" if part == "package" else part for part in relative.parts)
        )
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(Template(source.read_text()).substitute(name=name))
    return target


def _templates(folder: Traversable, relative: Path) -> list[tuple[Traversable, Path]]:
    found = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found += _templates(entry, relative / entry.name)
        elif entry.name.endswith(".tmpl"):
            found.append((entry, relative / entry.name.removesuffix(".tmpl")))
    return found
