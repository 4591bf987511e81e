"""enttok: a thin local host that runs connector plugins' jobs durably.

Everything a plugin author needs is importable from here; the rest of the package is the
host's own machinery and may change between releases.
"""

from enttok.context import JobContext
from enttok.declarations import JobType, Migration, Schedule
from enttok.errors import (
    AuthFailed,
    JobCancelled,
    JobError,
    NotReady,
    PermanentError,
    RateLimited,
    RetryableError,
)
from enttok.markers import hookimpl

__version__ = "0.1.0"

#: The plugin API version this host implements. A plugin states the one it targets.
PLUGIN_API_VERSION = 1

__all__ = [
    "PLUGIN_API_VERSION",
    "AuthFailed",
    "JobCancelled",
    "JobContext",
    "JobError",
    "JobType",
    "Migration",
    "NotReady",
    "PermanentError",
    "RateLimited",
    "RetryableError",
    "Schedule",
    "__version__",
    "hookimpl",
]
