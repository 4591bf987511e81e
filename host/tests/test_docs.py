"""The plugin guide keeps up with the code, so a new user can follow it word for word.

docs/plugins.md against the plugin API: every hookspec with its real signature and a tested
implementation; every public name of `enttok`, `enttok.testing` and the other public modules
with its import path; every public callable and method with its real signature as the guide
writes it (`*` before keyword-only parameters, defaults shown), so a positional call to a
keyword-only function cannot be taught; every call in its examples binds to the real
signature; context managers are shown in a `with`; documented imports import; no document
links outside the repository. (docs/api.md: test_api_docs.py; "Start here": test_scaffold.py.)
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import enttok
import enttok.testing
from enttok import hookspecs

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()
HOOKS = [
    function
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("enttok_")
]
#: Where the hooks the tests exercise are implemented: test plugins and the plugins with suites.
IMPLEMENTATIONS = [*ROOT.glob("host/tests/**/*.py"), *ROOT.glob("plugins/*/src/**/*.py")]

#: Modules a plugin imports from besides `enttok` and `enttok.testing` (whose `__all__` count):
#: every public name defined in them is public.
PUBLIC_MODULES = ("enttok.oauth", "enttok.plugin_host")
#: Single public names from otherwise internal modules.
PUBLIC_NAMES = (
    "enttok.api.openapi.documented",
    "enttok.routes.ApiError",
    "enttok.routes.QueueFull",
    "enttok.routes.body",
    "enttok.routes.query",
)
#: Classes the host or the kit makes and hands over: their members are public, their
#: constructors are not (a plugin never calls them).
HANDED_OVER = {
    "Account",
    "AccountNotFound",
    "ConnectorConformance",
    "EventStream",
    "Hold",
    "HostExited",
    "HostFailedToStart",
    "JobCancelled",
    "JobContext",
    "PluginHost",
    "QueueFull",
    "Recorded",
    "RunningHost",
    "SuiteFigures",
    "SyncPage",
}
#: What the guide's examples call these objects, to check the calls made on them.
RECEIVERS = {
    "ctx": ["JobContext"],
    "page": ["SyncPage"],
    "account": ["Account"],
    "upstream": ["FakeUpstream"],
    "host": ["RunningHost", "PluginHost"],
    "suite_figures": ["SuiteFigures"],
    "stream": ["EventStream"],
    "parked": ["Hold"],
}


# -- the public plugin API


def public_api() -> dict[str, tuple[str, Any]]:
    """name -> (the module it is imported from, the object)."""
    found: dict[str, tuple[str, Any]] = {}
    for module in (enttok, enttok.testing):
        for name in module.__all__:
            found[name] = (module.__name__, getattr(module, name))
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if not name.startswith("_") and getattr(value, "__module__", None) == module_name:
                found.setdefault(name, (module_name, value))
    for dotted in PUBLIC_NAMES:
        module_name, _, name = dotted.rpartition(".")
        found[name] = (module_name, getattr(importlib.import_module(module_name), name))
    return found


PUBLIC = public_api()
CLASSES = {name: value for name, (_, value) in PUBLIC.items() if inspect.isclass(value)}


def default_text(owner: Any, parameter: inspect.Parameter) -> str:
    value = parameter.default
    if repr(value) == "<factory>":  # a dataclass field's default_factory
        field = next(f for f in dataclasses.fields(owner) if f.name == parameter.name)
        value = field.default_factory()  # type: ignore[misc]
    named = next((n for n, (_, v) in PUBLIC.items() if v is value and not callable(v)), None)
    if named is not None and not isinstance(value, str | int | float | bool | type(None)):
        return named  # a public constant, e.g. `statuses=TERMINAL`
    if isinstance(value, str):
        return json.dumps(value)
    if inspect.isclass(value):
        return value.__name__
    return repr(value)


def render(name: str, function: Any, owner: Any = None) -> str:
    """`name(a, b=1, *, c=None, **options)`, as the guide writes a signature."""
    parts: list[str] = []
    starred = False
    for parameter in inspect.signature(function).parameters.values():
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text, starred = f"*{text}", True
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = f"**{text}"
        elif parameter.kind is parameter.KEYWORD_ONLY and not starred:
            parts.append("*")
            starred = True
        if parameter.default is not parameter.empty:
            text += f"={default_text(owner or function, parameter)}"
        parts.append(text)
    return f"{name}({', '.join(parts)})"


def member_names(cls: type) -> set[str]:
    """Every public attribute, property, method and instance attribute (`self.x = ...`)."""
    names = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("enttok"):
            continue
        names |= {n for n in vars(klass) if not n.startswith(("_", "test_"))}
        if dataclasses.is_dataclass(klass):
            names |= {f.name for f in dataclasses.fields(klass) if not f.name.startswith("_")}
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and isinstance(node.ctx, ast.Store)
                and not node.attr.startswith("_")
            ):
                names.add(node.attr)
    return names - {"model_config", "model_fields"}


def public_methods(cls: type) -> dict[str, Any]:
    found = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("enttok"):
            continue
        for name, value in vars(klass).items():
            if name.startswith(("_", "test_")):
                continue
            if isinstance(value, staticmethod):
                found[name] = value.__func__
            elif isinstance(value, classmethod | property) or not inspect.isfunction(value):
                continue
            else:
                found[name] = value
    return found


def method_signature(function: Any) -> inspect.Signature:
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        signature = signature.replace(parameters=parameters[1:])
    return signature


def render_method(name: str, function: Any, owner: type) -> str:
    return render(name, _Signed(method_signature(function)), owner)


class _Signed:
    """A callable with a given signature, for `render`."""

    def __init__(self, signature: inspect.Signature) -> None:
        self.__signature__ = signature

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError


def is_context_manager(function: Any) -> bool:
    wrapped = getattr(function, "__wrapped__", None)
    return wrapped is not None and (
        inspect.isgeneratorfunction(wrapped) or inspect.isasyncgenfunction(wrapped)
    )


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 10


def hook_signature(function: object) -> str:
    """`[async ]def name(param: annotation, ...) -> annotation`, as the guide writes it."""
    found = inspect.signature(function)  # type: ignore[arg-type]
    params = ", ".join(f"{p.name}: {p.annotation}" for p in found.parameters.values())
    prefix = "async def" if inspect.iscoroutinefunction(function) else "def"
    return f"{prefix} {function.__name__}({params}) -> {found.return_annotation}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.__name__)
def test_hook_is_documented_with_its_signature(hook: object) -> None:
    assert f"### `{hook.__name__}`" in GUIDE, "no section for the hook"  # type: ignore[attr-defined]
    assert f"\n{hook_signature(hook)}\n" in GUIDE, f"the guide does not show: {hook_signature(hook)}"
    assert inspect.getdoc(hook), "the hookspec has no docstring"


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.__name__)
def test_hook_is_implemented_by_a_tested_plugin(hook: object) -> None:
    pattern = re.compile(rf"^(async )?def {hook.__name__}\(", re.MULTILINE)  # type: ignore[attr-defined]
    assert any(pattern.search(path.read_text()) for path in IMPLEMENTATIONS), "no tested plugin implements it"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_is_documented_with_its_import(name: str) -> None:
    module, _ = PUBLIC[name]
    imported = re.search(rf"from {re.escape(module)} import (\([^)]*|[^\n]*)\b{name}\b", GUIDE)
    assert imported or f"`{module}.{name}" in GUIDE, (
        f"docs/plugins.md never says where {name} comes from: show `from {module} import {name}`"
    )


@pytest.mark.parametrize(
    "name", sorted(n for n, (_, v) in PUBLIC.items() if inspect.isclass(v) or inspect.isfunction(v))
)
def test_public_callable_is_shown_with_its_signature(name: str) -> None:
    _, value = PUBLIC[name]
    if name in HANDED_OVER or (inspect.isclass(value) and value.__name__ != name):
        return  # made by the host, or an alias (its class is checked under its own name)
    shown = render(name, value, value if inspect.isclass(value) else None)
    assert shown in GUIDE, f"docs/plugins.md does not show the signature {shown}"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_class_members_are_documented_with_their_signatures(name: str) -> None:
    cls = CLASSES[name]
    missing = sorted(n for n in member_names(cls) if not re.search(rf"\b{n}\b", GUIDE))
    assert not missing, f"{name}: {missing} are not in docs/plugins.md"
    unshown = [
        shown
        for method, function in public_methods(cls).items()
        if (shown := render_method(method, function, cls)) not in GUIDE
    ]
    assert not unshown, f"{name}: docs/plugins.md does not show the signatures {unshown}"
    for method, function in public_methods(cls).items():
        if is_context_manager(function):
            assert re.search(rf"with [\w.]*\.{method}\(", GUIDE), (
                f"{name}.{method}() is a context manager: show it in a `with` block"
            )


# -- the guide's code


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def guide_calls() -> Iterator[tuple[str, ast.Call]]:
    """Every call in the guide's Python examples that parse (a few show bare signatures)."""
    for block in python_blocks(GUIDE):
        try:
            tree = ast.parse(block)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield ast.unparse(node).split("\n")[0], node


def targets(call: ast.Call) -> list[inspect.Signature]:
    """The signatures `call` may mean: a public name, or a method of a known receiver."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in PUBLIC and callable(PUBLIC[func.id][1]):
        return [inspect.signature(PUBLIC[func.id][1])]
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        classes = [CLASSES[c] for c in RECEIVERS.get(func.value.id, []) if c in CLASSES]
        candidates = [public_methods(c).get(func.attr) for c in classes]
        return [method_signature(f) for f in candidates if f is not None]
    return []


def test_the_examples_call_what_exists_as_it_is_declared() -> None:
    checked, wrong = 0, []
    for text, call in guide_calls():
        signatures = targets(call)
        if not signatures or any(isinstance(a, ast.Starred) for a in call.args):
            continue
        if any(keyword.arg is None for keyword in call.keywords):
            continue
        args = [None] * len(call.args)
        kwargs = {keyword.arg: None for keyword in call.keywords if keyword.arg}
        for signature in signatures:
            try:
                signature.bind(*args, **kwargs)
                break
            except TypeError:
                continue
        else:
            wrong.append(f"{text}  (declared {signatures[0]})")
        checked += 1
    assert checked >= 20, f"only {checked} calls were checked: the examples moved?"
    assert not wrong, "calls in docs/plugins.md that do not fit the real signature:\n" + "\n".join(wrong)


def documented_imports(text: str) -> set[tuple[str, str | None]]:
    """(module, name or None) of every `from enttok... import` / `import enttok...` line in the
    code blocks, and every `enttok.dotted.name` in backticks."""
    found: set[tuple[str, str | None]] = set()
    code = "\n".join(re.findall(r"```(?:python|sh|toml)?\n(.*?)```", text, re.DOTALL))
    imports = re.findall(r"^\s*from (enttok[\w.]*) import (\([^)]*\)|[^\n#]+)", code, re.MULTILINE)
    for module, names in imports:
        for name in names.strip("() \n").replace("\n", " ").split(","):
            if name.strip():
                found.add((module, name.split(" as ")[0].strip()))
    for module in re.findall(r"^\s*import (enttok[\w.]*)", code, re.MULTILINE):
        found.add((module, None))
    for dotted in re.findall(r"`(enttok(?:\.\w+)+)", text):
        module, _, name = dotted.rpartition(".")
        found.add((module, name))
    return found


@pytest.mark.parametrize("document", ["docs/plugins.md", "docs/api.md", "README.md"])
def test_documented_imports_import(document: str) -> None:
    failures = []
    for module, name in sorted(documented_imports((ROOT / document).read_text()), key=str):
        try:
            imported = importlib.import_module(module)
            if name is not None and not hasattr(imported, name):
                try:
                    importlib.import_module(f"{module}.{name}")
                except ImportError:
                    # `enttok.ratelimits.RateBudget.observe`: an attribute of an attribute
                    parent, _, attribute = module.rpartition(".")
                    owner = getattr(importlib.import_module(parent), attribute)
                    if not hasattr(owner, name):
                        raise
        except (ImportError, AttributeError) as error:
            failures.append(f"{module} {name or ''}: {error}")
    assert not failures, f"{document} shows imports that fail: {failures}"


def test_first_party_plugins_import_only_the_documented_plugin_api() -> None:
    """A third party must be able to write any first-party plugin: each `enttok` import in
    their code and tests is one docs/plugins.md shows (a module imported whole counts for
    every name in it that the page shows)."""
    shown = documented_imports((ROOT / "docs/plugins.md").read_text())
    shown_modules = {module for module, _ in shown}
    private = []
    for path in sorted((ROOT / "plugins").glob("*/*/**/*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "enttok":
                private += [
                    f"{path.relative_to(ROOT)}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if (node.module, alias.name) not in shown and node.module not in ("enttok.testing",)
                ]
            elif isinstance(node, ast.Import):
                private += [
                    f"{path.relative_to(ROOT)}: import {alias.name}"
                    for alias in node.names
                    if alias.name.split(".")[0] == "enttok" and alias.name not in shown_modules
                ]
    assert not private, "first-party plugins import what docs/plugins.md does not show:\n" + "\n".join(
        private
    )


def test_curl_examples_send_their_json_as_json() -> None:
    """The host answers a body not declared `application/json` with 415; curl's `-d` alone
    declares a form. Every documented curl that sends a body declares JSON (directly, or
    through a shell variable the same block sets to the header)."""
    wrong = []
    for path in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted(ROOT.glob("plugins/*/README.md")),
    ]:
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(), re.DOTALL):
            header_vars = set(re.findall(r'(\w+)="Content-Type: application/json"', block))
            for command in re.split(r"\n(?!\s)", block.replace("\\\n", " ")):
                if not command.lstrip().startswith("curl") or " -d " not in command:
                    continue
                declared = "Content-Type: application/json" in command or any(
                    f'"${name}"' in command for name in header_vars
                )
                if not declared:
                    wrong.append(f"{path.relative_to(ROOT)}: {command.strip()[:80]}")
    assert not wrong, "curl examples that send JSON as a form (the host answers 415):\n" + "\n".join(wrong)


# -- links


@pytest.mark.parametrize("document", ["README.md", "docs/plugins.md", "docs/api.md"])
def test_links_stay_in_the_repository(document: str) -> None:
    path = ROOT / document
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        assert not re.match(r"[a-z]+:", target), f"{document} links outside the repository: {target}"
        if target.startswith("#"):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{document} links outside the repository: {target}"
        assert resolved.exists(), f"{document} links to a missing file: {target}"


def test_the_test_kit_imports_each_name_on_first_use() -> None:
    """`enttok.testing` is imported by every pytest run wherever enttok is installed (its
    fixtures are a pytest plugin): loading the plugin must not load the fake upstream's
    server or the conformance suite, and every name it exports must resolve."""
    probe = (
        "import sys, enttok.testing, enttok.testing.plugin\n"
        "heavy = [m for m in ('uvicorn', 'enttok.testing.upstream', 'enttok.testing.conformance') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "", f"loading the pytest plugin imported {loaded.stdout.strip()}"
    assert set(enttok.testing.__all__) == set(enttok.testing._HOMES)
    for name in enttok.testing.__all__:
        assert getattr(enttok.testing, name) is not None
