"""The floor the host is measured against: Starlette + uvicorn with one route, `GET /health`.

It runs with the same python, the same uvicorn (uvloop and httptools, as the host gets them)
and binds 127.0.0.1 like the host, so the difference in start time and memory is what
enttok adds on top of its web stack: its plugins, pydantic models, scheduler and database.

    python bench/bare_app.py --port 8123
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/health", health, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="info")


if __name__ == "__main__":
    main()
