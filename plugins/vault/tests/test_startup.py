"""Start-up stays cheap: the host with the vault plugin loads none of its heavy libraries
until a job or a request needs them."""

from __future__ import annotations

from pathlib import Path

# Not watchfiles: uvicorn itself imports it wherever it is installed (for --reload).
HEAVY = ("numpy", "_yaml", "tokenizers", "safetensors")


def _loaded_libraries(pid: int) -> set[str]:
    return {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if ".so" in line}


def test_no_heavy_library_at_start_up_and_each_on_first_use(vault, tiny_model):
    v = vault(embedding_model=str(tiny_model))
    pid = v.host.process.pid
    assert not [lib for lib in _loaded_libraries(pid) if any(name in lib for name in HEAVY)]

    v.write("a.md", "# A\nkitten\n")
    v.scan()
    assert v.search("dog", mode="vector")["results"][0]["path"] == "a.md"
    loaded = _loaded_libraries(pid)
    assert [name for name in ("numpy", "_yaml", "tokenizers") if not any(name in lib for lib in loaded)] == []
