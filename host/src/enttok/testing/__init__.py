"""`enttok.testing`: the test kit for the host and for connector plugins.

- `start_host` / the `enttok_host` fixture: the real host as a subprocess (`host.py`);
- `FakeUpstream`: a fake upstream API on a loopback port, with faults and OAuth (`upstream.py`);
- `Clock`: a clock the test moves, for the fake upstream's token expiry and rate limits;
- `ConnectorConformance`: the suite every connector runs with one class (`conformance`);
- `fuzz_routes` / `RouteFuzzReport`: a plugin's routes under schemathesis (`route_fuzz.py`);
- `SuiteFigures` / the `suite_figures` fixture: figures a suite reports, printed at the end of
  the run (`figures.py`).

The fixtures are a pytest plugin (`enttok.testing.plugin`, registered through `pytest11`), so
this package is imported by every pytest run wherever enttok is installed: each name below is
imported from its module on first use, and a test suite that uses none of them pays nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enttok.testing.conformance import ConnectorConformance
    from enttok.testing.figures import SuiteFigures
    from enttok.testing.host import (
        TERMINAL,
        EventStream,
        HostExited,
        HostFailedToStart,
        RunningHost,
        start_host,
    )
    from enttok.testing.route_fuzz import RouteFuzzReport, fuzz_routes
    from enttok.testing.upstream import Clock, FakeUpstream, Hold, Recorded

_HOMES = {
    "ConnectorConformance": "enttok.testing.conformance",
    "SuiteFigures": "enttok.testing.figures",
    "TERMINAL": "enttok.testing.host",
    "EventStream": "enttok.testing.host",
    "HostExited": "enttok.testing.host",
    "HostFailedToStart": "enttok.testing.host",
    "RunningHost": "enttok.testing.host",
    "start_host": "enttok.testing.host",
    "RouteFuzzReport": "enttok.testing.route_fuzz",
    "fuzz_routes": "enttok.testing.route_fuzz",
    "Clock": "enttok.testing.upstream",
    "FakeUpstream": "enttok.testing.upstream",
    "Hold": "enttok.testing.upstream",
    "Recorded": "enttok.testing.upstream",
}

__all__ = [
    "TERMINAL",
    "Clock",
    "ConnectorConformance",
    "EventStream",
    "FakeUpstream",
    "Hold",
    "HostExited",
    "HostFailedToStart",
    "Recorded",
    "RouteFuzzReport",
    "RunningHost",
    "SuiteFigures",
    "fuzz_routes",
    "start_host",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
