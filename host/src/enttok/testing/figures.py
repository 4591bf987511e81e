"""`SuiteFigures`: what a reliability suite did, printed at the end of the test run.

A suite counts what it actually checked, after the assertion that proves it, through the
session fixture `suite_figures` (`enttok.testing.plugin`); pytest then prints one section,
"enttok suite figures", with one line per suite:

    def test_kill_9_loses_nothing(enttok_host, suite_figures):
        ...
        assert lost == []
        suite_figures.count("recovery", "kills survived")
        suite_figures.count("recovery", "jobs verified not lost", len(submitted))

prints `recovery: 1 kills survived, 500 jobs verified not lost`. A `what` of the form
`"group: kind"` is shown within its group, which adds up its kinds:
`count("security", "requests refused: no token", 3)` and `count("security", "requests
refused: wrong token", 2)` print `security: 5 requests refused (no token 3, wrong token 2)`.
"""

from __future__ import annotations


class SuiteFigures:
    """The figures of one test run, by suite; they add up across tests.

    Suites, and each suite's figures, are printed in the order first reported. The figures
    live in the pytest process: under pytest-xdist, each worker's stay in that worker."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}
        self._notes: dict[str, list[str]] = {}

    def count(self, suite: str, what: str, n: int = 1) -> None:
        """Add `n` (0 included: the figure is shown as 0) to the figure `what` of `suite`."""
        if n < 0:
            raise ValueError(f"a figure only grows: {suite!r} {what!r} got {n}")
        self._notes.setdefault(suite, [])
        counts = self._counts.setdefault(suite, {})
        counts[what] = counts.get(what, 0) + n

    def note(self, suite: str, line: str) -> None:
        """A free-text line for `suite` (a seed, a setting), shown after its figures."""
        self._counts.setdefault(suite, {})
        self._notes.setdefault(suite, []).append(line)

    def lines(self) -> list[str]:
        """The summary: one `suite: figure, figure; note` line per suite that reported."""
        return [self._line(suite) for suite in self._counts]

    def __bool__(self) -> bool:
        return bool(self._counts)

    def _line(self, suite: str) -> str:
        groups: dict[str, dict[str, int]] = {}  # group -> kind -> n; a plain figure has kind ""
        for what, n in self._counts[suite].items():
            group, _, kind = what.partition(": ")
            groups.setdefault(group, {})[kind] = n
        parts = []
        for group, kinds in groups.items():
            text = f"{sum(kinds.values()):,} {group}"
            if named := [f"{kind} {n:,}" for kind, n in kinds.items() if kind]:
                text += f" ({', '.join(named)})"
            parts.append(text)
        return f"{suite}: " + "; ".join(filter(None, [", ".join(parts), *self._notes[suite]]))
