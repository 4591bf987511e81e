"""The pluggy markers: `hookspec` for the host's specs, `hookimpl` for plugins."""

import pluggy

PROJECT_NAME = "enttok"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
