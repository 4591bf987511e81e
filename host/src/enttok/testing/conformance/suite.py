"""The conformance checks. Each runs the connector in the real host against its fake upstream
and fails with a message that starts with the defect it found:

- declarations: payload schemas that are not objects, job types outside the plugin's name;
- "unprefixed table": a table, index, view or trigger outside `<plugin>_*`, by a migration
  or created at run time (checked after a full sync);
- "changes its data on every start" / "fails on the second start": a restart must leave the
  plugin loaded, its schema and row counts as they were, and a sync still working;
- a full sync stores exactly the upstream's rows and adds its timeline entries;
- "not incremental": a second sync with nothing changed fetches fewer pages than the first;
- "timeline entries that duplicate": fetching everything again adds no timeline entry;
- "cancellation ignored": after the cancel, no request but the one in flight;
- a 429 with `Retry-After` respected; an access token expiring mid-sync refreshed;
- "an auth failure swallowed": a refresh token revoked before or during a sync ends the job
  `auth_failed` and the account `needs_reauth`;
- a kill mid-sync resumed from the cursor, with no gap and no duplicate;
- "cursor committed before its rows": the host killed right after each page commit in turn,
  then restarted, still ends with every row;
- "a blocking call in an async handler": `/health` stays quick throughout a warm sync;
- "a secret leaked": no account secret (every `SecretStr` field) and no token the upstream
  issued in a file under the data dir (WAL and logs included), an event, a result or a response;
- "a sync without an account failed / left accounts out": with two accounts, the sync without
  `account_id` succeeds and each account's job stores every row (skipped when the payload
  requires an account id), and skips an account that is `needs_reauth` ("synced an account
  that must sign in again");
- "no last sync shown": after a sync the account's `last_sync` names the job, succeeded, and
  "does not count its rows" unless `rows` covers every row stored;
- "rows left by a deleted account": deleting an account removes its rows and timeline entries,
  and only its own.

A plugin the host refuses fails every check at once, with the host's reason.
"""

from __future__ import annotations

from enttok.testing.conformance.account_checks import AccountChecks
from enttok.testing.conformance.data_checks import DataChecks
from enttok.testing.conformance.failure_checks import FailureChecks


class ConnectorConformance(DataChecks, FailureChecks, AccountChecks):
    """Subclass it in a `Test...` class, set `plugin`, `sync_job_type` and `page_path`, and
    implement `make_upstream`, `account_settings`, `sync_payload`, `expected_keys` and
    `stored_keys` (see `ConformanceBase`): pytest then runs every check."""
