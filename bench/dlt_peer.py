"""The sync benchmark's peer: dlt loading the same pages of the demo API.

dlt's declarative REST API source pages the demo fake's `/items` the way the demo connector
does (`after=<last seq>`, `limit=100`, a bearer token from the fake's `/oauth/token`), and its
pipeline loads the items, merged by `id`, into one of its own destinations: SQLite (through its
`sqlalchemy` destination, the same engine as enttok) or DuckDB (its default). That is what a
person would reach for instead of writing a connector on enttok, so it is the peer to beat.

The clock runs from `pipeline.run` to its return (extract, normalize and load: dlt is done
then); importing dlt and building the pipeline object are not counted. dlt runs in the
benchmark's own process, in a scratch directory, with its telemetry switched off.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

PAGE = 100


def _paginator() -> Any:
    from dlt.sources.helpers.rest_client.paginators import BasePaginator

    class AfterLastSeq(BasePaginator):
        """`after=<the last item's seq>` until the body says `has_more: false`: the demo API's paging."""

        def __init__(self) -> None:
            super().__init__()
            self.after = 0

        def init_request(self, request: Any) -> None:
            request.params = {**(request.params or {}), "after": self.after, "limit": PAGE}

        def update_state(self, response: Any, data: list[Any] | None = None) -> None:
            if data:
                self.after = data[-1]["seq"]
            self._has_next_page = bool(response.json()["has_more"])

        def update_request(self, request: Any) -> None:
            request.params = {**(request.params or {}), "after": self.after, "limit": PAGE}

    return AfterLastSeq()


def access_token(url: str, refresh_token: str) -> str:
    response = httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def run_dlt(url: str, refresh_token: str, destination: str) -> dict[str, float]:
    """Load every item of the fake at `url` with dlt into `destination` ("sqlite" or "duckdb")."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    warnings.filterwarnings("ignore", module="dlt")  # its own SQLAlchemy warnings, not ours to fix
    import dlt
    from dlt.sources.rest_api import rest_api_source

    token = access_token(url, refresh_token)
    with tempfile.TemporaryDirectory(prefix="enttok-bench-dlt-") as scratch:
        database = Path(scratch) / f"items.{destination}"
        if destination == "sqlite":
            target = dlt.destinations.sqlalchemy(f"sqlite:///{database}")
        else:
            target = dlt.destinations.duckdb(str(database))
        source = rest_api_source(
            {
                "client": {"base_url": url, "auth": {"type": "bearer", "token": token}},
                "resources": [
                    {
                        "name": "items",
                        "primary_key": "id",
                        "write_disposition": "merge",
                        "endpoint": {"path": "items", "data_selector": "items", "paginator": _paginator()},
                    }
                ],
            }
        )
        pipeline = dlt.pipeline(
            pipeline_name="enttok_bench",
            pipelines_dir=str(Path(scratch) / "pipelines"),
            destination=target,
            dataset_name="bench",
        )
        started = time.monotonic()
        pipeline.run(source)
        seconds = time.monotonic() - started
        with pipeline.sql_client() as client:
            loaded = client.execute_sql("SELECT COUNT(*) FROM items")[0][0]
    return {"seconds": seconds, "loaded": loaded}
