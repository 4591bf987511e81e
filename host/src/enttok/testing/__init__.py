"""`enttok.testing`: the test kit for the host and for connector plugins.

- `start_host` / the `enttok_host` fixture: the real host as a subprocess (`host.py`);
- `FakeUpstream`: a fake upstream API on a loopback port, with faults and OAuth (`upstream.py`);
- `Clock`: a clock the test moves, for the fake upstream's token expiry and rate limits;
- `ConnectorConformance`: the suite every connector runs with one class (`conformance.py`);
- `SuiteFigures` / the `suite_figures` fixture: figures a suite reports, printed at the end of
  the run (`figures.py`).

The fixtures are a pytest plugin (`enttok.testing.plugin`, registered through `pytest11`).
"""

from enttok.testing.figures import SuiteFigures
from enttok.testing.host import TERMINAL, EventStream, HostFailedToStart, RunningHost, start_host
from enttok.testing.upstream import Clock, FakeUpstream, Hold

__all__ = [
    "TERMINAL",
    "Clock",
    "EventStream",
    "FakeUpstream",
    "Hold",
    "HostFailedToStart",
    "RunningHost",
    "SuiteFigures",
    "start_host",
]
