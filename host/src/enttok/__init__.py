"""enttok: a thin local host that runs connector plugins' jobs durably.

What a plugin's hooks and handlers use is importable from here. The other public modules
are `enttok.oauth` (token refresh), `enttok.plugin_host` (the host as hooks and routes see
it), `enttok.api.openapi.documented` and `enttok.testing` (the test kit); docs/plugins.md
covers each, and its test checks that. The rest of the package is the host's own machinery
and may change between releases.
"""

from enttok.accounts import Account, AccountNotFound
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
from enttok.sync import Activity, SyncPage

__version__ = "0.1.0"

#: The plugin API version this host implements. A plugin states the one it targets.
PLUGIN_API_VERSION = 1

__all__ = [
    "PLUGIN_API_VERSION",
    "Account",
    "AccountNotFound",
    "Activity",
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
    "SyncPage",
    "__version__",
    "hookimpl",
]
