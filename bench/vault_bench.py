"""The notes vault: scan and full index of a generated vault, an incremental update after
edits, and search latency, against ripgrep over the same files.

The vault: NOTES Markdown notes in 100 folders, each with front matter (tags, a date), a title,
three `##` sections of prose (about 250 words in all, drawn Zipf-like from a 30,000-word
vocabulary, as a person's notes repeat their common words), wiki links to other notes and a
few inline tags. The embedding model is a model2vec static model of that vocabulary with 256
dimensions (the shape of model2vec's potion-base models), built here and saved to disk, since
no model is downloaded: the plugin loads it the way it loads a real one.

enttok: a fresh host with only the vault plugin (`enttok.testing.start_host`); the vault set
with `watch: false` so that the benchmark alone queues jobs.
- full index: `vault.scan` of the whole vault (read, parse, full text, embeddings), timed from
  `POST /jobs` to `succeeded`; notes/s, and the host's peak RSS (VmHWM) after it;
- incremental: EDITS notes get a new sentence, then `vault.index_update` with their paths,
  timed the same way (target: under a second);
- search: QUERIES one-word queries over HTTP (`GET /plugins/vault/search`, limit 20), in text
  and hybrid mode, p50/p99 of the round trip.
Baseline: what a person would run otherwise, `rg -i -l -F WORD <vault>` for the same words (the
files are in the page cache after the scan, as for a vault in daily use), p50/p99 of its wall
time. Target: search faster than ripgrep.

    uv run python bench/vault_bench.py [--notes 20000] [--edits 100] [--queries 200]
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import quantiles
from typing import Any

from common import machine_info, ratio_text, save_results, verdict

from enttok.testing import start_host

VOCABULARY = 30_000
DIMENSIONS = 256
COMMON = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "at",
    "by",
]


def words(count: int) -> list[str]:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    made: set[str] = set()
    while len(made) < count:
        made.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 10))))
    return sorted(made)


def generate_vault(root: Path, notes: int, vocabulary: list[str]) -> list[str]:
    rng = random.Random(11)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocabulary))))
    paths = [f"area-{n % 100:02d}/note-{n:05d}.md" for n in range(notes)]

    def sentence() -> str:
        picked = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(6, 14))
        mixed = [w if rng.random() > 0.35 else rng.choice(COMMON) for w in picked]
        return " ".join(mixed).capitalize() + "."

    for n, path in enumerate(paths):
        links = " ".join(f"[[note-{rng.randrange(notes):05d}]]" for _ in range(rng.randint(0, 3)))
        sections = "\n\n".join(
            f"## {rng.choice(vocabulary).title()}\n\n"
            + " ".join(sentence() for _ in range(rng.randint(5, 8)))
            for _ in range(3)
        )
        text = (
            f"---\ntags: [{rng.choice(vocabulary)}, project-{n % 40}]\ndate: 2026-{1 + n % 12:02d}-{1 + n % 28:02d}\n---\n"
            f"# Note {n} {rng.choice(vocabulary)}\n\n{links} #{rng.choice(vocabulary)}\n\n{sections}\n"
        )
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    return paths


def build_model(folder: Path, vocabulary: list[str]) -> None:
    import numpy as np
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1} | {
        w: i + 2 for i, w in enumerate([*vocabulary, *COMMON, *map(str, range(100))])
    }
    vectors = np.random.default_rng(3).standard_normal((len(vocab), DIMENSIONS)).astype(np.float32)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    StaticModel(vectors, tokenizer, normalize=True).save_pretrained(folder)


def timed_job(
    host: Any, job_type: str, payload: dict[str, Any], timeout: float
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    job = host.run(job_type, payload, timeout=timeout)
    elapsed = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise RuntimeError(f"{job_type} did not succeed: {job}")
    return elapsed, job["result"]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notes", type=int, default=20_000)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    options = parser.parse_args()
    rg = shutil.which("rg")
    if rg is None:
        raise SystemExit("ripgrep (rg) is the baseline: install it (Debian: apt-get install ripgrep)")

    with tempfile.TemporaryDirectory(prefix="vault-bench-") as temporary:
        workdir = Path(temporary)
        vault_root, model = workdir / "vault", workdir / "model"
        vocabulary = words(VOCABULARY)
        started = time.perf_counter()
        paths = generate_vault(vault_root, options.notes, vocabulary)
        print(f"generated {len(paths)} notes in {time.perf_counter() - started:.1f} s")
        build_model(model, vocabulary)

        host = start_host(workdir / "host", plugins=["vault"])
        try:
            settings = {
                "vaults": [{"id": "bench", "path": str(vault_root), "watch": False}],
                "embedding_model": str(model),
            }
            response = host.post("/settings", json={"plugins": {"vault": settings}})
            response.raise_for_status()
            rss_before = peak_rss_mib(host.process.pid)

            scan_seconds, scan = timed_job(host, "vault.scan", {"vault_id": "bench"}, timeout=3600)
            peak = peak_rss_mib(host.process.pid)
            print(
                f"full index: {scan['added']} notes, {scan['embedded']} chunks embedded, {scan_seconds:.1f} s {scan['seconds']}"
            )

            rng = random.Random(5)
            edited = rng.sample(paths, options.edits)
            for path in edited:
                with open(vault_root / path, "a") as note:
                    note.write(f"\nEdited: {' '.join(rng.choices(vocabulary, k=12))}.\n")
            update_seconds, update = timed_job(
                host, "vault.index_update", {"vault_id": "bench", "changed_paths": edited}, timeout=600
            )
            print(
                f"incremental: {update['updated']} notes, {update['embedded']} chunks embedded, {update_seconds:.3f} s {update['seconds']}"
            )

            # Words of middling frequency: found in some notes, not in most.
            queries = [vocabulary[rng.randrange(50, 5000)] for _ in range(options.queries)]
            latencies: dict[str, list[float]] = {"text": [], "hybrid": [], "ripgrep": []}
            for word in queries:
                for mode in ("text", "hybrid"):
                    started = time.perf_counter()
                    response = host.get(
                        "/plugins/vault/search", params={"vault_id": "bench", "q": word, "mode": mode}
                    )
                    latencies[mode].append(time.perf_counter() - started)
                    response.raise_for_status()
                started = time.perf_counter()
                subprocess.run(
                    [rg, "-i", "-l", "-F", word, str(vault_root)], stdout=subprocess.DEVNULL, check=False
                )
                latencies["ripgrep"].append(time.perf_counter() - started)
        finally:
            host.stop()

    figures = {mode: percentiles(samples) for mode, samples in latencies.items()}
    rg_p50 = figures["ripgrep"][0]
    text_ratio = rg_p50 / figures["text"][0]
    hybrid_ratio = rg_p50 / figures["hybrid"][0]
    results = {
        "machine": machine_info(),
        "notes": options.notes,
        "full_index": {
            "seconds": round(scan_seconds, 2),
            "notes_per_second": round(scan["added"] / scan_seconds, 1),
            "chunks_embedded": scan["embedded"],
            "peak_rss_mib": round(peak, 1),
            "rss_before_mib": round(rss_before, 1),
        },
        "incremental": {
            "edits": options.edits,
            "seconds": round(update_seconds, 3),
            "chunks_embedded": update["embedded"],
        },
        "search_ms": {
            mode: {"p50": round(p50 * 1000, 2), "p99": round(p99 * 1000, 2)}
            for mode, (p50, p99) in figures.items()
        },
    }
    print()
    print(
        f"full index   {results['full_index']['notes_per_second']} notes/s, peak RSS {peak:.0f} MiB (idle {rss_before:.0f} MiB)"
    )
    print(
        f"incremental  {options.edits} edits in {update_seconds * 1000:.0f} ms: {verdict(update_seconds < 1.0)} (under 1 s)"
    )
    for mode in ("text", "hybrid", "ripgrep"):
        p50, p99 = figures[mode]
        print(f"search {mode:<8} p50 {p50 * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms")
    print(f"text search vs ripgrep (p50): {ratio_text(text_ratio, 1.0)} faster: {verdict(text_ratio > 1)}")
    print(
        f"hybrid search vs ripgrep (p50): {ratio_text(hybrid_ratio, 1.0)} faster: {verdict(hybrid_ratio > 1)}"
    )
    print(f"results: {save_results('vault', results)}")


if __name__ == "__main__":
    main()
