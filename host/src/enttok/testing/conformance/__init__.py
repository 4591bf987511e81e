"""`ConnectorConformance`: what every connector must get right, as tests it runs with one class.

    class TestConformance(ConnectorConformance):
        plugin = "demo"
        sync_job_type = "demo.sync"
        page_path = "/items"

        def make_upstream(self): ...               # a FakeUpstream serving your API's fake
        def account_settings(self, upstream): ...  # settings for POST /accounts, its secret
                                                   # from upstream.new_refresh_token()
        def sync_payload(self, account_id): ...
        def expected_keys(self, upstream): ...     # the row keys a complete sync stores
        def stored_keys(self, db, account_id): ... # the row keys stored (a list: duplicates show)

Each check fails with a message that names the defect it found (`suite.py` lists them).
"""

from enttok.testing.conformance.base import ACCOUNT
from enttok.testing.conformance.suite import ConnectorConformance

__all__ = ["ACCOUNT", "ConnectorConformance"]
