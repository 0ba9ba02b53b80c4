"""Shared pieces of the benchmarks: where SciFact lives, and a cache of its embeddings."""

from __future__ import annotations

import hashlib
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
RESULTS = ROOT / "benchmarks" / "results"


def have_scifact(path: Path = SCIFACT) -> bool:
    """Whether the SciFact folder is there; benchmarks skip with a message when it is not."""
    if (path / "corpus.jsonl").exists():
        return True
    print(f"skipped: SciFact not found at {path} (see ../shared/data/README.md)")
    return False


def cached_embeddings(model, texts: list[str], name: str, progress: bool | None = None,
                      role: str = "document") -> np.ndarray:
    """Embeddings of ``texts`` in ``role`` (query or document), kept under benchmarks/results/ (keyed by the
    model's weights, the role's prompt and the texts); a progress bar on a terminal (``progress`` None)."""
    from textmetric.encoding import Encoder

    encoder = Encoder.of(model)
    prompt = encoder.prompts[role]
    key = hashlib.sha256(encoder.fingerprint().encode() + (f"\0{prompt}" if prompt else "").encode()
                         + "\0".join(texts).encode()).hexdigest()[:16]
    path = RESULTS / f"{name}-{key}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    if progress is None:
        progress = sys.stderr.isatty()
    embeddings = encoder.encode(texts, role=role, progress=progress)
    RESULTS.mkdir(parents=True, exist_ok=True)
    np.save(path, embeddings, allow_pickle=False)
    return embeddings


def interleaved_seconds(reference: Callable[[], object], candidate: Callable[[], object],
                        rounds: int) -> tuple[float, float]:
    """Median wall times of ``reference`` and ``candidate``, run in ABBA order so drift hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for round_number in range(rounds):
        order = (0, 1) if round_number % 2 == 0 else (1, 0)
        for side in order:
            start = time.perf_counter()
            (reference, candidate)[side]()
            times[side].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def run_for(threads: list[threading.Thread], seconds: float, stop: threading.Event) -> float:
    """Start ``threads``, let them run ``seconds``, set ``stop`` and wait for them; returns the wall time."""
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start
