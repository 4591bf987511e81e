"""A plugin route marked `documented(..., public=True)` answers GET without the token (an
OAuth callback the system browser reaches), and nothing else does: an unmarked route, a
marked one with path parameters and a marked one's other methods still need it, and the
Host and Origin checks still apply to the marked one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from enttok.testing import RunningHost, start_host

SUPPORT = Path(__file__).parent / "support"
PREFIX = "/plugins/tokenless"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> RunningHost:
    running = start_host(
        tmp_path_factory.mktemp("tokenless"),
        plugins=[],
        plugin_modules={"tokenless": "tokenless"},
        pythonpath=[SUPPORT],
    )
    yield running
    running.close()


def test_a_marked_route_answers_without_the_token(host: RunningHost) -> None:
    answer = httpx.get(f"{host.url}{PREFIX}/callback")
    assert answer.status_code == 200 and answer.text == "you can close this tab"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/private"), ("POST", "/callback"), ("GET", "/callback/anything")],
)
def test_everything_else_still_needs_the_token(host: RunningHost, method: str, path: str) -> None:
    assert httpx.request(method, f"{host.url}{PREFIX}{path}").status_code == 401
    assert host.request(method, f"{PREFIX}{path}").status_code == 200


def test_a_marked_route_still_refuses_a_foreign_host_or_origin(host: RunningHost) -> None:
    url = f"{host.url}{PREFIX}/callback"
    assert httpx.get(url, headers={"Host": "evil.example"}).status_code == 403
    assert httpx.get(url, headers={"Host": f"evil.example:{host.port}"}).status_code == 403
    assert httpx.get(url, headers={"Origin": "https://evil.example"}).status_code == 403


def test_openapi_shows_the_marked_route_without_security(host: RunningHost) -> None:
    paths = host.get("/openapi.json").json()["paths"]
    assert paths[f"{PREFIX}/callback"]["get"]["security"] == []
    assert "security" not in paths[f"{PREFIX}/private"]["get"]
