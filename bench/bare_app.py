"""The floor the host is measured against: Starlette + uvicorn with one route, `GET /health`.

It runs with the same python, the same uvicorn (uvloop and httptools, as the host gets them)
and binds 127.0.0.1 like the host, so the difference in start time and memory is what
enttok adds on top of its web stack: its plugins, pydantic models, scheduler and database.

    python bench/bare_app.py --port 8123 [--pydantic]

`--pydantic` also imports pydantic and declares one model, as every enttok plugin does for its
payloads: the floor for any host that validates with pydantic before it answers `/health`.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/health", health, methods=["GET"])])

if "--pydantic" in sys.argv:  # before uvicorn starts, as a host loads its plugins' models
    from pydantic import BaseModel

    class Payload(BaseModel):
        account_id: str
        page_size: int = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--pydantic", action="store_true", help="import pydantic and declare one model")
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="info")


if __name__ == "__main__":
    main()
