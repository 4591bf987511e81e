"""The plugin guide keeps up with the code (as datasette checks its hooks): every hookspec is
documented in docs/plugins.md with its real signature and implemented by a plugin that the
tests load, and every public name of the helpers a connector uses is explained there."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from enttok import hookspecs
from enttok.accounts import Account
from enttok.context import JobContext
from enttok.plugin_host import PluginHost
from enttok.sync import SyncPage
from enttok.testing import FakeUpstream, RunningHost, SuiteFigures
from enttok.testing.conformance import ConnectorConformance

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()
HOOKS = [
    function
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("enttok_")
]
#: Where the hooks the tests exercise are implemented: test plugins and the plugins with suites.
IMPLEMENTATIONS = [*ROOT.glob("host/tests/**/*.py"), *ROOT.glob("plugins/*/src/**/*.py")]


def signature(function: object) -> str:
    """`[async ]def name(param: annotation, ...) -> annotation`, as the guide writes it."""
    found = inspect.signature(function)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in found.parameters.values())
    prefix = "async def" if inspect.iscoroutinefunction(function) else "def"
    return f"{prefix} {function.__name__}({params}) -> {found.return_annotation}"


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 10


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.__name__)
def test_hook_is_documented_with_its_signature(hook: object) -> None:
    assert f"### `{hook.__name__}`" in GUIDE, "no section for the hook"
    assert f"\n{signature(hook)}\n" in GUIDE, f"the guide does not show: {signature(hook)}"
    assert inspect.getdoc(hook), "the hookspec has no docstring"


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.__name__)
def test_hook_is_implemented_by_a_tested_plugin(hook: object) -> None:
    pattern = re.compile(rf"^(async )?def {hook.__name__}\(", re.MULTILINE)
    assert any(pattern.search(path.read_text()) for path in IMPLEMENTATIONS), "no tested plugin implements it"


@pytest.mark.parametrize(
    "cls",
    [
        JobContext,
        Account,
        SyncPage,
        PluginHost,
        FakeUpstream,
        RunningHost,
        ConnectorConformance,
        SuiteFigures,
    ],
    ids=lambda c: c.__name__,
)
def test_public_names_are_in_the_guide(cls: type) -> None:
    public = {name for name in vars(cls) if not name.startswith("_") and not name.startswith("test_")}
    missing = sorted(name for name in public if not re.search(rf"\b{name}\b", GUIDE))
    assert not missing, f"{cls.__name__}: {missing} are not in docs/plugins.md"
