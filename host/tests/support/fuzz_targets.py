"""Plugin `fuzz_targets`: routes for `enttok.testing.fuzz_routes` to judge. `/notes` and
`/notes/{note_id}` keep what `documented` promises; `/crash` answers 500 to everything and
`/lenient` answers 201 to any body, the schema's or not."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok import hookimpl
from enttok.api.openapi import documented
from enttok.routes import ApiError, body

NOTES = {"n1": "the note a test knows"}


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200)


class StoredNote(BaseModel):
    note_id: str
    text: str


@documented("Add a note", body=Note, response=StoredNote, status=201)
async def add_note(request: Request) -> JSONResponse:
    note = await body(request, Note)
    return JSONResponse({"note_id": "new", "text": note.text}, status_code=201)


@documented("Read a note", response=StoredNote, errors=(404,))
async def read_note(request: Request) -> JSONResponse:
    note_id = request.path_params["note_id"]
    if note_id not in NOTES:
        raise ApiError(404, "note_not_found", f"There is no note {note_id!r}.", field="note_id")
    return JSONResponse({"note_id": note_id, "text": NOTES[note_id]})


@documented("A route with a bug")
async def crash(request: Request) -> JSONResponse:
    raise RuntimeError("a bug in the route")


@documented("Add a note without reading it", body=Note, response=StoredNote, status=201)
async def lenient(request: Request) -> JSONResponse:
    return JSONResponse({"note_id": "new", "text": "whatever was sent"}, status_code=201)


@hookimpl
def enttok_routes() -> list[Route]:
    return [
        Route("/notes", add_note, methods=["POST"]),
        Route("/notes/{note_id}", read_note, methods=["GET"]),
        Route("/crash", crash, methods=["GET"]),
        Route("/lenient", lenient, methods=["POST"]),
    ]
