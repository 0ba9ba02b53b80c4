"""Evaluation reports: a folder of ``metrics.json``, ``per_query.csv`` and PNG plots (matplotlib, Agg).

One report describes one or more systems (a model's run, or the runs of two models
to compare) over the same qrels:

``metrics.json``
    ``{"systems": {name: {"metrics": {...}, "num_queries": n, "distances": {...}}},
    "comparison": {...}}`` -- the comparison (see ``compare.py``) when there are two systems.
``per_query.csv``
    one row per evaluated query: ``query_id`` then every metric (``name:metric`` columns
    when there are several systems; a blank where a system lacks the query).
``distances.png``
    histograms of the cosine distance (1 - cos) between queries and their relevant
    documents, and between queries and their hardest non-relevant documents (the
    top-ranked ones the run retrieved), one panel per system: the gap between the two
    is what metric learning widens. Needs the embeddings (a model), so a report of a
    bare run file has none.
``recall_at_k.png``, ``precision_recall.png``
    mean recall@k for k = 1 ... depth, and the 11-point interpolated precision-recall
    curve (trec_eval's ``iprec_at_recall``), one line per system.
``training_curves.png``
    the training log of a fine-tuned model folder (``training_log.json``), when it has one.

Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Container, Mapping, Sequence

import numpy as np

from ..atomic import atomic_write, check_output_folder
from ..data import Qrels, Queries
from ..encoding import DEFAULT_BATCH_SIZE
from ..errors import InputError
from .formatting import finite_or_none, to_json
from .metrics import DEFAULT_RELEVANCE_LEVEL, Evaluation, Run, rank

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from sentence_transformers import SentenceTransformer

    from .compare import Comparison
    from ..encoding import Encoder
    from ..index.protocols import SearchIndex

__all__ = ["System", "Distances", "pair_distances", "model_distances", "recall_curve", "interpolated_precision",
           "RECALL_LEVELS", "write_report", "check_report_folder", "training_log_of", "plot_training_log"]

RECALL_LEVELS = tuple(i / 10 for i in range(11))
DEFAULT_NEGATIVES = 5


@dataclass
class Distances:
    """Cosine distances (1 - cos) of judged-relevant and of hardest non-relevant (query, document) pairs."""

    relevant: np.ndarray
    non_relevant: np.ndarray

    def summary(self) -> dict:
        def mean(values: np.ndarray) -> float | None:
            return float(values.mean()) if len(values) else None

        return {"relevant_pairs": int(len(self.relevant)), "relevant_mean": mean(self.relevant),
                "non_relevant_pairs": int(len(self.non_relevant)), "non_relevant_mean": mean(self.non_relevant)}


@dataclass
class System:
    """One retrieval system in a report: its scores, its run, and optionally its distances and training log."""

    name: str
    evaluation: Evaluation
    run: Run
    distances: Distances | None = None
    training_log: dict | None = None


# -- distances -----------------------------------------------------------------------------------

def _evaluated(run: Run, qrels: Qrels) -> list[str]:
    """The queries ``metrics.evaluate`` scores: judged (non-empty) and in the run."""
    return sorted(q for q, judged in qrels.items() if judged and q in run)


def pair_distances(query_vectors: Mapping[str, np.ndarray], doc_ids: Container[str],
                   doc_vectors: Callable[[list[str]], np.ndarray], qrels: Qrels, run: Run, *,
                   negatives: int = DEFAULT_NEGATIVES, relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> Distances:
    """Distances of each query with a vector to its relevant documents and to its ``negatives``
    top-ranked non-relevant ones (unjudged or graded below ``relevance_level``).

    Documents outside ``doc_ids`` (not in the index) are passed over; ``doc_vectors``
    maps a list of ids to their embeddings, normalised here.
    """
    pairs: dict[str, list[tuple[str, str]]] = {"relevant": [], "non_relevant": []}
    for q in _evaluated(run, qrels):
        if q not in query_vectors:
            continue
        relevant = {d for d, g in qrels[q].items() if g >= relevance_level}
        pairs["relevant"] += [(q, d) for d in sorted(relevant) if d in doc_ids]
        hard = [d for d in rank(run[q]) if d not in relevant and d in doc_ids][:negatives]
        pairs["non_relevant"] += [(q, d) for d in hard]
    out = {}
    for kind, kind_pairs in pairs.items():
        if not kind_pairs:
            out[kind] = np.zeros(0, dtype=np.float64)
            continue
        queries = _unit(np.stack([np.asarray(query_vectors[q], dtype=np.float64) for q, _ in kind_pairs]))
        docs = _unit(np.asarray(doc_vectors([d for _, d in kind_pairs]), dtype=np.float64))
        out[kind] = np.clip(1.0 - np.einsum("ij,ij->i", queries, docs), 0.0, 2.0)
    return Distances(relevant=out["relevant"], non_relevant=out["non_relevant"])


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def model_distances(model: "Encoder | SentenceTransformer", queries: Queries, qrels: Qrels, run: Run,
                    index: "SearchIndex", *, negatives: int = DEFAULT_NEGATIVES,
                    relevance_level: int = DEFAULT_RELEVANCE_LEVEL, batch_size: int = DEFAULT_BATCH_SIZE) -> Distances:
    """:func:`pair_distances` with the model's query embeddings and the document vectors an index holds
    (HNSW, exact or shards): only the queries are encoded."""
    from ..encoding import encode

    qids = [q for q in _evaluated(run, qrels) if q in queries]
    vectors = encode(model, [queries[q] for q in qids], role="query", batch_size=batch_size)
    return pair_distances(dict(zip(qids, vectors)), index, index.embeddings, qrels, run, negatives=negatives,
                          relevance_level=relevance_level)


# -- curves --------------------------------------------------------------------------------------

def _relevant_ranks(run: Run, qrels: Qrels, relevance_level: int) -> list[tuple[np.ndarray, int]]:
    """Per evaluated query: the 1-based ranks of its retrieved relevant documents, and R."""
    out = []
    for q in _evaluated(run, qrels):
        judged = qrels[q]
        ranks = [i for i, d in enumerate(rank(run[q]), start=1) if judged.get(d, 0) >= relevance_level]
        out.append((np.asarray(ranks, dtype=np.int64), sum(1 for g in judged.values() if g >= relevance_level)))
    return out


def recall_curve(run: Run, qrels: Qrels, max_k: int, *, relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> np.ndarray:
    """Mean recall@k for k = 1 ... ``max_k`` (element k - 1) over the evaluated queries, as ``recall@k`` scores them."""
    if max_k < 1:
        raise InputError(f"max_k must be at least 1, got {max_k}")
    per_query = _relevant_ranks(run, qrels, relevance_level)
    if not per_query:
        return np.zeros(max_k)
    found = np.zeros(max_k + 1)
    for ranks, num_relevant in per_query:
        if num_relevant:
            np.add.at(found, ranks[ranks <= max_k], 1.0 / num_relevant)
    return np.cumsum(found)[1:] / len(per_query)


def interpolated_precision(run: Run, qrels: Qrels, levels: Sequence[float] = RECALL_LEVELS, *,
                           relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> np.ndarray:
    """Mean interpolated precision at each recall level: per query the highest precision at any rank
    whose recall reaches the level, 0 if none does (trec_eval ``iprec_at_recall``)."""
    per_query = _relevant_ranks(run, qrels, relevance_level)
    out = np.zeros(len(levels))
    for ranks, num_relevant in per_query:
        if not num_relevant or not len(ranks):
            continue
        hits = np.arange(1, len(ranks) + 1)
        recalls, precisions = hits / num_relevant, hits / ranks
        best_from = np.maximum.accumulate(precisions[::-1])[::-1]  # max precision at this recall or beyond
        for i, level in enumerate(levels):
            reach = np.flatnonzero(recalls >= level - 1e-12)
            if len(reach):
                out[i] += best_from[reach[0]]
    return out / len(per_query) if per_query else out


# -- the report folder ---------------------------------------------------------------------------

def check_report_folder(folder: str | os.PathLike) -> Path:
    """The report folder, refused at once if the path is an existing file or cannot be written (before any work
    is done)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("is a file: the report needs a folder (it writes metrics.json, per_query.csv and "
                         "PNG plots into it)", folder)
    return check_output_folder(folder, replaced=False)


def training_log_of(model_path: str | os.PathLike | None) -> dict | None:
    """The ``training_log.json`` of a fine-tuned model folder, or None."""
    if model_path is None:
        return None
    path = Path(model_path) / "training_log.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def write_report(folder: str | os.PathLike, systems: Sequence[System], qrels: Qrels, *,
                 comparison: "Comparison | None" = None, max_k: int | None = None,
                 relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> list[Path]:
    """Write the report of ``systems`` into ``folder`` (created if need be); returns the files written.

    With two systems and no ``comparison`` given, the second is compared with the first.
    ``max_k`` bounds the recall@k curve (default: the deepest run, at most 1000).
    """
    folder = check_report_folder(folder)
    if not systems:
        raise InputError("a report needs at least one system")
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise InputError(f"system names must differ, got {', '.join(names)}")
    folder.mkdir(parents=True, exist_ok=True)
    if comparison is None and len(systems) == 2:
        from .compare import compare_evaluations

        comparison = compare_evaluations(systems[0].evaluation, systems[1].evaluation)
    written = [_write_metrics(folder / "metrics.json", systems, comparison),
               _write_per_query(folder / "per_query.csv", systems)]
    with_distances = [s for s in systems if s.distances is not None]
    if with_distances:
        written.append(_save(_distance_figure(with_distances), folder / "distances.png"))
    depth = max((len(scores) for s in systems for scores in s.run.values()), default=1)
    max_k = max(1, min(max_k or depth, 1000))
    written.append(_save(_recall_figure(systems, qrels, max_k, relevance_level), folder / "recall_at_k.png"))
    written.append(_save(_pr_figure(systems, qrels, relevance_level), folder / "precision_recall.png"))
    logged = [s for s in systems if s.training_log]
    for s in logged:
        name = "training_curves.png" if len(logged) == 1 else f"training_curves-{_slug(s.name)}.png"
        written.append(_save_training_curves(s.training_log, folder / name))
    return written


def _write_metrics(path: Path, systems: Sequence[System], comparison) -> Path:
    data: dict = {"systems": {}}
    for s in systems:
        entry = {"metrics": {k: finite_or_none(v) for k, v in s.evaluation.means.items()},
                 "num_queries": s.evaluation.num_queries}
        if s.distances is not None:
            entry["distances"] = s.distances.summary()
        data["systems"][s.name] = entry
    if comparison is not None:
        data["comparison"] = {"a": systems[0].name, "b": systems[1].name, **comparison.as_dict()}
    with atomic_write(path) as f:
        f.write(to_json(data, indent=2) + "\n")
    return path


def _write_per_query(path: Path, systems: Sequence[System]) -> Path:
    single = len(systems) == 1
    columns = [(s, name) for s in systems for name in s.evaluation.means]
    queries = sorted({q for s in systems for q in s.evaluation.per_query})
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", *(name if single else f"{s.name}:{name}" for s, name in columns)])
        for q in queries:
            row = [q]
            for s, name in columns:
                values = s.evaluation.per_query.get(q)
                row.append("" if values is None else repr(values[name]))
            writer.writerow(row)
    return path


def _figure(width: float, height: float, panels: int = 1) -> tuple["Figure", list]:
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    fig = Figure(figsize=(width * panels, height))
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    return fig, axes


def _save(fig: "Figure", path: Path) -> Path:
    fig.tight_layout()
    with atomic_write(path, binary=True) as f:
        fig.savefig(f, format="png", dpi=100)
    return path


def _save_training_curves(log: dict, path: Path) -> Path:
    with atomic_write(path, binary=True) as f:
        plot_training_log(log, f)
    return path


def plot_training_log(log: dict, path: str | os.PathLike | BinaryIO) -> None:
    """Training loss per step and the dev metrics per evaluation, as a PNG (a path or a binary file).

    The plot ``fine_tune`` writes beside a model as ``training_curves.png``, and a report copies.
    """
    history = log.get("history", [])
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    dev: dict[str, list] = {}
    for h in history:
        for key, value in h.items():
            if key.startswith("eval_dev_"):
                dev.setdefault(key[len("eval_"):], []).append((h["step"], value))
    for key, value in (log.get("initial_dev") or {}).items():
        dev.setdefault(key, []).insert(0, (0, value))
    fig, (left, right) = _figure(5, 4, panels=2)
    if losses:
        left.plot(*zip(*losses), marker=".")
    left.set(title="training loss", xlabel="step", ylabel="loss")
    for key, points in sorted(dev.items()):
        right.plot(*zip(*points), marker="o", label=key)
    right.set(title="dev split", xlabel="step", ylabel="score")
    if dev:
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")


def _distance_figure(systems: Sequence[System]) -> "Figure":
    fig, axes = _figure(5, 3.8, len(systems))
    top = max([1e-3, *(float(np.max(v)) for s in systems for v in (s.distances.relevant, s.distances.non_relevant)
                       if len(v))])
    bins = np.linspace(0.0, min(2.0, top * 1.05), 41)  # one scale for every panel, so they compare
    for ax, s in zip(axes, systems):
        for values, label, color in ((s.distances.relevant, "relevant", "tab:green"),
                                     (s.distances.non_relevant, "hardest non-relevant", "tab:red")):
            if len(values):
                ax.hist(values, bins=bins, density=True, alpha=0.55, color=color,
                        label=f"{label} ({len(values)}, mean {values.mean():.3f})")
                ax.axvline(values.mean(), color=color, linestyle="--", linewidth=1)
        ax.set(title=s.name, xlabel="cosine distance (1 - cos)", ylabel="density")
        ax.legend(fontsize=8)
    return fig


def _recall_figure(systems: Sequence[System], qrels: Qrels, max_k: int, relevance_level: int) -> "Figure":
    fig, (ax,) = _figure(6, 4)
    ks = np.arange(1, max_k + 1)
    for s in systems:
        ax.plot(ks, recall_curve(s.run, qrels, max_k, relevance_level=relevance_level), label=s.name)
    if max_k >= 10:
        ax.set_xscale("log")
    ax.set(title="recall@k", xlabel="k", ylabel="mean recall@k", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _pr_figure(systems: Sequence[System], qrels: Qrels, relevance_level: int) -> "Figure":
    fig, (ax,) = _figure(6, 4)
    for s in systems:
        ax.plot(RECALL_LEVELS, interpolated_precision(s.run, qrels, relevance_level=relevance_level), marker="o",
                label=s.name)
    ax.set(title="precision-recall (11-point interpolated)", xlabel="recall", ylabel="precision",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
