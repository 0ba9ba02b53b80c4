"""Evaluating retrieval systems side by side, and a model on labelled pairs.

A system is a named run and what made it (:class:`SystemRun`): exact search of a model over a
corpus (:func:`exact_search`), an index searched in one or more modes (:func:`search_index`), or
a run file. :func:`evaluate_systems` scores every system against the same qrels; the
:class:`SystemsEvaluation` it returns prints as a table or JSON and writes the report folder.
``textmetric evaluate`` and the demo both go through here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..data import Examples, Qrels, Queries, RetrievalData
from ..encoding import DEFAULT_BATCH_SIZE, DEFAULT_MODEL, encode
from ..errors import InputError, warn
from ..search.ranking import Run
from ..search.retriever import Retriever
from .formatting import format_modes_table, format_table, to_json
from .metrics import DEFAULT_METRICS, DEFAULT_RELEVANCE_LEVEL, Evaluation, evaluate, pair_accuracy

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..encoding import Encoder
    from ..index import ExactIndex
    from ..index.filters import FilterSpec
    from ..index.protocols import SearchIndex
    from .compare import Comparison

__all__ = ["EVALUATION_TOP_K", "RECALL_CHECK", "SystemRun", "SystemsEvaluation", "evaluate_systems", "exact_search",
           "search_index", "check_corpus_filter", "model_labels", "evaluate_retriever", "evaluate_pairs"]

EVALUATION_TOP_K = 1000
"""Documents retrieved per query for evaluation: trec_eval's own cut-off."""

RECALL_CHECK = "hnsw_recall@10"
"""The name of the HNSW recall@10 against exact search that ``search_index(check_recall=True)`` reports."""


@dataclass
class SystemRun:
    """One system's run, and what made it: the model and the index it searched (a report's distance plots
    need both), the model's folder (a fine-tuned one's training log goes in the report), and measurements
    shown beside its metrics (``extra``, such as the HNSW recall check)."""

    name: str
    run: Run
    model: "Encoder | SentenceTransformer | None" = None
    index: "SearchIndex | None" = None
    model_path: str | os.PathLike | None = None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class SystemsEvaluation:
    """Every system scored against the same qrels, in the order given."""

    systems: list[SystemRun]
    evaluations: dict[str, Evaluation]
    qrels: Qrels
    relevance_level: int = DEFAULT_RELEVANCE_LEVEL

    def means(self, name: str) -> dict[str, float]:
        """A system's metric means, then its extra measurements."""
        extra = next(s.extra for s in self.systems if s.name == name)
        return {**self.evaluations[name].means, **extra}

    @property
    def num_queries(self) -> int:
        """The number of queries scored (the same for every system: those judged, or every one with ``complete``)."""
        return next(iter(self.evaluations.values())).num_queries

    def as_dict(self) -> dict:
        """One system: its means and ``num_queries``; several: ``{"systems": [{name, metrics, num_queries}, ...]}``."""
        if len(self.systems) == 1:
            return {**self.means(self.systems[0].name), "num_queries": self.num_queries}
        return {"systems": [{"name": s.name, "metrics": self.means(s.name),
                             "num_queries": self.evaluations[s.name].num_queries} for s in self.systems]}

    def to_json(self) -> str:
        return to_json(self.as_dict())

    def table(self) -> str:
        """The means as text: two columns for one system, one column per system for several."""
        if len(self.systems) == 1:
            return format_table(self.means(self.systems[0].name), self.num_queries)
        return format_modes_table({s.name: self.means(s.name) for s in self.systems}, self.num_queries)

    def write_report(self, folder: str | os.PathLike, queries: Queries | None = None, *,
                     comparison: "Comparison | None" = None, batch_size: int = DEFAULT_BATCH_SIZE) -> list[Path]:
        """Write the report folder (see :mod:`.report`); returns the files written.

        A system with a model and an index gets the distance histograms when ``queries`` are given
        (only they are encoded); one with a fine-tuned model folder, its training curves.
        """
        from .report import System, model_distances, training_log_of, write_report

        systems = []
        for s in self.systems:
            distances = None
            if s.model is not None and s.index is not None and queries:
                distances = model_distances(s.model, queries, self.qrels, s.run, s.index,
                                            relevance_level=self.relevance_level, batch_size=batch_size)
            systems.append(System(s.name, self.evaluations[s.name], s.run, distances, training_log_of(s.model_path)))
        return write_report(folder, systems, self.qrels, comparison=comparison, relevance_level=self.relevance_level)


def evaluate_systems(systems: Sequence[SystemRun], qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS, *,
                     relevance_level: int = DEFAULT_RELEVANCE_LEVEL, complete: bool = False) -> SystemsEvaluation:
    """Score every system's run against ``qrels`` (see :func:`textmetric.evaluate`); names must differ."""
    if not systems:
        raise InputError("no system to evaluate")
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise InputError(f"system names must differ, got {', '.join(names)}")
    evaluations = {s.name: evaluate(s.run, qrels, metrics, relevance_level=relevance_level, complete=complete)
                   for s in systems}
    return SystemsEvaluation(list(systems), evaluations, qrels, relevance_level)


def model_labels(*models: str | os.PathLike | None) -> list[str]:
    """Names for systems of these models: a folder's name (the default model's for None), with ``A: ``,
    ``B: ``... before each when two would read the same."""
    labels = [DEFAULT_MODEL if m is None else (Path(str(m)).name or str(m)) for m in models]
    if len(set(labels)) == len(labels):
        return labels
    return [f"{chr(ord('A') + i)}: {label}" for i, label in enumerate(labels)]


def exact_search(model: "Encoder | SentenceTransformer", data: RetrievalData, *, name: str | None = None,
                 model_path: str | os.PathLike | None = None, k: int = EVALUATION_TOP_K,
                 batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False,
                 filter: "FilterSpec" = None, index: "ExactIndex | None" = None) -> SystemRun:
    """The system of ``model`` searching ``data``'s corpus exactly (no index on disk) for its queries, among the
    documents passing ``filter`` when given (checked against the corpus's fields before any encoding).

    ``name`` defaults to the model's label (:func:`model_labels`) of ``model_path``. ``index``: the corpus
    already encoded by ``model`` (on Ray, say: :func:`textmetric.distributed.build.exact_index_on_ray`).
    """
    from ..index import ExactIndex

    filter = check_corpus_filter(filter, data)
    if index is None:
        index = ExactIndex.build(model, data.corpus, batch_size=batch_size, progress=progress)
    run = Retriever(model, index, batch_size=batch_size, progress=progress).search(data.queries, k=k, filter=filter)
    return SystemRun(name or model_labels(model_path)[0], run, model, index, model_path)


def check_corpus_filter(filter: "FilterSpec", data: RetrievalData) -> "FilterSpec":
    """``filter`` checked against the fields of ``data``'s corpus (an unknown field is an error), or None."""
    from ..data.fields import field_kinds
    from ..index.filters import checked_filter

    return checked_filter(filter, lambda: field_kinds(doc.fields for doc in data.corpus.values()))


def search_index(index: "SearchIndex", model: "Encoder | SentenceTransformer | None", data: RetrievalData,
                 modes: Sequence[str] = ("dense",), *, k: int = EVALUATION_TOP_K, check_recall: bool = False,
                 model_path: str | os.PathLike | None = None, source: str | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False, filter: "FilterSpec" = None,
                 **fusion) -> list[SystemRun]:
    """One system per retrieval mode (named for it), each searching ``index`` for ``data``'s queries (among the
    documents passing ``filter``, when given).

    The query embeddings are encoded once for every mode that needs them. ``fusion`` holds the
    :class:`~textmetric.Retriever`'s fusion settings. ``check_recall`` adds the HNSW recall@10 against
    exact search (:data:`RECALL_CHECK`). The dense system, or the only one, carries the model and its
    folder (default: the one the index records) for the report, and the recall check. A warning counts
    the documents of ``data``'s corpus that the index (named ``source`` in it) lacks.
    """
    from ..index.building import hnsw_recall

    filter = index.check_filter(filter)
    if check_recall and filter is not None:
        raise InputError("the recall check measures the whole graph: it takes no filter")
    if data.corpus:
        missing = sum(1 for doc_id in data.corpus if doc_id not in index)
        if missing:
            warn(f"{missing} corpus document(s) are not in the index{' ' + source if source else ''}")
    retrievers = {mode: Retriever(model, index, mode=mode, batch_size=batch_size, progress=progress, **fusion)
                  for mode in modes}
    texts = list(data.queries.values())
    # Every mode but lexical, and the recall check, need the same query embeddings: encode them once.
    embeddings = next(iter(retrievers.values())).encode(texts) if model is not None and texts else None
    runs = {mode: r.search(data.queries, k=k, embeddings=embeddings, filter=filter) for mode, r in retrievers.items()}
    extra = {}
    if check_recall:
        extra = {RECALL_CHECK: hnsw_recall(index, embeddings, 10) if embeddings is not None else 0.0}
    model_path = model_path or (index.model or {}).get("name")
    systems = []
    for mode, run in runs.items():
        dense, only = mode == "dense", len(runs) == 1
        systems.append(SystemRun(mode, run, model if dense else None, index if dense else None,
                                 model_path if dense or only else None, extra if dense or only else {}))
    return systems


def evaluate_retriever(retriever: Retriever, queries: Queries, qrels: Qrels, *, k: int = EVALUATION_TOP_K,
                       metrics: Sequence[str] = DEFAULT_METRICS, relevance_level: int = DEFAULT_RELEVANCE_LEVEL,
                       complete: bool = False, filter: "FilterSpec" = None) -> tuple[Evaluation, Run]:
    """Search every query (among the documents passing ``filter``, when given), then score the run against the
    qrels; returns the scores and the run."""
    run = retriever.search(queries, k=k, filter=filter)
    return evaluate(run, qrels, metrics, relevance_level=relevance_level, complete=complete), run


def evaluate_pairs(model: "Encoder | SentenceTransformer", examples: Examples, *,
                   batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False) -> dict[str, float]:
    """Pair classification: the best-threshold accuracy and F1 of the model's cosine similarity on labelled
    pairs (:func:`~textmetric.pair_accuracy`, as sentence-transformers' ``BinaryClassificationEvaluator``).

    Both sides of a pair are encoded alike, as plain ``SentenceTransformer.encode`` does: no query or document
    prompt, for the pairs are symmetric.
    """
    if examples.kind != "labelled":
        raise InputError(f"pair accuracy needs labelled pairs (text_a, text_b, label), got {examples.kind}")
    a = encode(model, examples.column("text_a"), batch_size=batch_size, normalize=True, progress=progress)
    b = encode(model, examples.column("text_b"), batch_size=batch_size, normalize=True, progress=progress)
    scores = np.einsum("ij,ij->i", a, b)
    return {**pair_accuracy(scores.tolist(), examples.column("label")), "num_pairs": len(examples.rows)}
