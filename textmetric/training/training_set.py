"""The rows a loss trains on, and the dev split it is judged by, from a BEIR folder or training examples.

From a BEIR folder: the (query, relevant document) pairs of the training queries, with hard
negatives mined by the starting model (``hard_negatives="auto"``), read from a ``textmetric mine``
file, or drawn at random where the loss needs them; the dev split is a seeded share of the queries,
searched among their judged documents and random others. From examples: the file's own rows, a
seeded share held out for dev (retrieval of each anchor's positive, or pair accuracy for labelled
pairs). :class:`DevEvaluator` scores the dev split inside the sentence-transformers trainer.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from ..data import (Corpus, Examples, ExamplesSource, Qrels, Queries, is_saved_dataset, load_beir, load_examples,
                    source_name)
from ..encoding import Encoder
from ..errors import InputError, option
from ..evaluation.metrics import evaluate
from ..evaluation.systems import evaluate_pairs
from ..index import ExactIndex
from ..search.retriever import Retriever
from .config import AUTO_MAX_RANK, AUTO_SKIP_TOP, TrainConfig
from .losses.registry import LOSS_SPECS, LossSpec, get_spec
from .pseudo_queries import PseudoPair, inverse_cloze_pairs
from .throughput import autocast
from .rows import TrainingPair

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

__all__ = ["TrainingSet", "DevEvaluator", "prepare_training_set"]


@dataclass
class TrainingSet:
    """The rows the loss trains on, and the dev split it is judged by."""

    columns: tuple[str, ...]
    rows: list[tuple]
    dev_queries: Queries = field(default_factory=dict)
    dev_corpus: Corpus = field(default_factory=dict)
    dev_qrels: Qrels = field(default_factory=dict)
    dev_pairs: Examples | None = None
    #: How many of the rows' pairs are pseudo-queries (inverse cloze) rather than judged queries.
    pseudo_pairs: int = 0
    #: Rows mined again by a given model (ANCE-style re-mining), for the epoch given; None: the rows are fixed.
    remine: "Callable[[SentenceTransformer, int], list[tuple]] | None" = None

    def dataset(self) -> "Dataset":
        """The rows as a ``datasets.Dataset``; with :attr:`remine`, a live view that reads :attr:`rows` whenever
        a row is fetched, so that rows replaced during training are the ones the next epoch sees."""
        from datasets import Dataset

        if self.remine is None:
            return Dataset.from_dict({c: [row[i] for row in self.rows] for i, c in enumerate(self.columns)})
        live = Dataset.from_dict({"row": list(range(len(self.rows)))})
        live.set_transform(_LiveRows(self))
        return live


class _LiveRows:
    """A ``set_transform`` function: row numbers to the training set's current rows, column by column."""

    def __init__(self, training: TrainingSet) -> None:
        self.training = training

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        rows = self.training.rows
        return {column: [rows[n][i] for n in batch["row"]] for i, column in enumerate(self.training.columns)}


class DevEvaluator(SentenceEvaluator):
    """Dev-split scores with textmetric's evaluator: MAP and nDCG@10 by exact search, or pair accuracy.

    Shaped like a sentence-transformers evaluator (``__call__(model, ...) -> dict``,
    ``primary_metric``, ``greater_is_better``) so its trainer keeps the best checkpoint.
    """

    def __init__(self, training: TrainingSet, batch_size: int = 32, name: str = "dev",
                 prompts: dict[str, str] | None = None, precision: str = "fp32") -> None:
        super().__init__()
        self.precision = precision  # "bf16": encode under autocast, as training computes
        self.training, self.batch_size, self.name = training, batch_size, name
        self.prompts = prompts  # the query and document prompts; None: the model's own
        self._encoder: Encoder | None = None  # one per model, so a truncation warning is given once, not per call
        self.greater_is_better = True
        self.primary_metric = f"{name}_accuracy" if training.dev_pairs is not None else f"{name}_ndcg@10"

    def __call__(self, model: "SentenceTransformer", output_path: str | None = None, epoch: int = -1,
                 steps: int = -1) -> dict[str, float]:
        was_training = model.training
        model.eval()
        if self._encoder is None or self._encoder.model is not model:
            self._encoder = Encoder(model, prompts=self.prompts)
        encoder = self._encoder
        try:
            with autocast(self.precision, model.device.type):
                if self.training.dev_pairs is not None:
                    result = evaluate_pairs(encoder, self.training.dev_pairs, batch_size=self.batch_size)
                    metrics = {"accuracy": result["accuracy"], "f1": result["f1"]}
                else:
                    index = ExactIndex.build(encoder, self.training.dev_corpus, batch_size=self.batch_size)
                    run = Retriever(encoder, index, batch_size=self.batch_size).search(self.training.dev_queries,
                                                                                       k=100)
                    metrics = evaluate(run, self.training.dev_qrels, ["map", "ndcg@10"]).means
        finally:
            model.train(was_training)
        return {f"{self.name}_{key}": float(value) for key, value in metrics.items()}


def _split(items: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, dev): a seeded shuffle, with ``ceil(fraction * n)`` items in dev (none if fraction is 0)."""
    if not 0 <= fraction < 1:
        raise InputError(f"{option('dev_fraction')} must be in [0, 1), got {fraction}")
    shuffled = sorted(items)
    random.Random(seed).shuffle(shuffled)
    n_dev = math.ceil(fraction * len(shuffled)) if fraction > 0 else 0
    if n_dev and n_dev >= len(shuffled):
        raise InputError(f"too few training queries ({len(shuffled)}) to carve a dev split from")
    return shuffled[n_dev:], shuffled[:n_dev]


def _read_negatives(path: str, corpus: Corpus) -> dict[str, list[str]]:
    """Mined negatives by query id, from a ``textmetric mine`` triplet file."""
    examples = Path(path)
    negatives: dict[str, list[str]] = {}
    from ..data import iter_records

    for number, record in iter_records(examples, "jsonl"):
        qid, neg = record.get("query_id"), record.get("negative_id")
        if not isinstance(qid, str) or not isinstance(neg, str):
            raise InputError("expected the query_id and negative_id that `textmetric mine` writes", examples, number)
        if neg in corpus and neg not in negatives.setdefault(qid, []):
            negatives[qid].append(neg)
    return negatives


def _beir_rows(spec: LossSpec, train_pairs: list[tuple[str, str]], queries: Queries, corpus: Corpus, qrels: Qrels,
               negatives: dict[str, list[str]] | None, per_pair: int, seed: int,
               pseudo: Sequence[PseudoPair] = ()) -> tuple[tuple[str, ...], list]:
    """The columns and rows of loss ``spec`` from (query id, positive doc id) pairs, then the ``pseudo`` pairs
    (inverse cloze; their negatives, where the loss reads any, are random documents other than their own)."""
    rng = random.Random(seed)
    doc_ids = sorted(corpus)

    def negatives_of(mined: list[str], relevant: set[str]) -> list[str]:
        """Mined negatives first; random documents not in ``relevant`` fill up to ``per_pair``."""
        picked = list(mined[:per_pair])
        while len(picked) < per_pair and len(picked) + len(relevant) < len(doc_ids):
            d = rng.choice(doc_ids)
            if d not in relevant and d not in picked:
                picked.append(d)
        return picked

    text = lambda d: corpus[d].full_text  # noqa: E731
    # A loss that needs negatives gets random ones when none were mined; mnrl uses them only when mined.
    draw = spec.negatives == "required" or (spec.negatives == "optional" and negatives is not None)
    pairs = [TrainingPair(q, queries[q], text(d), tuple(text(n) for n in negatives_of(
        (negatives or {}).get(q, []), {r for r, g in qrels[q].items() if g >= 1})) if draw else None)
        for q, d in train_pairs]
    pairs += [TrainingPair(f"pseudo:{p.doc_id}", p.query, p.positive,
                           tuple(text(n) for n in negatives_of([], {p.doc_id})) if draw else None) for p in pseudo]
    return spec.build_rows(pairs)


def _dev_corpus(corpus: Corpus, dev_qrels: Qrels, size: int, seed: int) -> Corpus:
    """The dev queries' judged documents plus seeded random distractors, ``size`` documents in all."""
    keep = {d for judged in dev_qrels.values() for d in judged if d in corpus}
    others = sorted(set(corpus) - keep)
    random.Random(seed).shuffle(others)
    keep.update(others[:max(0, size - len(keep))])
    return {d: corpus[d] for d in corpus if d in keep}


def prepare_training_set(source: ExamplesSource, config: TrainConfig, model: "SentenceTransformer | None" = None,
                         progress: bool = False) -> TrainingSet:
    """Rows for ``config.loss`` and a dev split, from a BEIR folder or examples: a file (jsonl/csv/parquet/
    arrow), a ``datasets`` save_to_disk folder, a ``datasets.Dataset`` or a dict of columns."""
    get_spec(config.loss)
    if isinstance(source, (str, os.PathLike)):
        source = Path(source)
        if not source.exists():
            raise InputError("no such file or folder (give a BEIR folder or an example file)", source)
        if source.is_dir() and not is_saved_dataset(source):
            return _prepare_beir(source, config, model, progress)
    if config.pseudo_queries:
        raise InputError(f"{option('pseudo_queries')} draws documents from a BEIR folder's corpus; example data "
                         "has none", source_name(source))
    if config.remine:
        raise InputError(f"{option('remine', '--remine-every-epoch')} mines negatives from a BEIR folder's corpus; "
                         "example data brings its own", source_name(source))
    if config.hard_negatives not in (None, "auto"):
        raise InputError(f"mined negatives ({option('hard_negatives', '--hard-negatives FILE', 'PATH')}) go with "
                         "a BEIR folder; example data brings its own negatives as (anchor, positive, negative) rows",
                         source_name(source))
    return _prepare_examples(load_examples(source), config)


def _prepare_beir(folder: Path, config: TrainConfig, model, progress: bool) -> TrainingSet:
    data = load_beir(folder, config.split)
    train_q, dev_q = _split(list(data.queries), config.dev_fraction, config.seed)
    pairs = [(q, d) for q in train_q for d, g in sorted(data.qrels[q].items()) if g >= 1 and d in data.corpus]
    if not pairs:
        raise InputError("no relevant (query, document) pair to train on", folder / "qrels" / f"{config.split}.tsv")
    spec = get_spec(config.loss)
    negatives = None
    if config.remine and spec.negatives == "unused":
        raise InputError(f"loss '{spec.name}' reads no negatives: {option('remine', '--remine-every-epoch')} "
                         "has none to mine again")

    def mined_by(current: "SentenceTransformer", show: bool = False) -> dict[str, list[str]]:
        """The training queries' hard negatives as ``current`` ranks the corpus (never a dev query's)."""
        from .mining import mine_hard_negatives

        with autocast(config.precision, current.device.type):
            index = ExactIndex.build(current, data.corpus, progress=show)
            return mine_hard_negatives(current, index, {q: data.queries[q] for q in train_q}, data.qrels,
                                       negatives=config.negatives_per_pair, skip_top=AUTO_SKIP_TOP,
                                       max_rank=AUTO_MAX_RANK, relative_margin=config.relative_margin,
                                       progress=show)

    if config.hard_negatives == "auto" and spec.negatives != "unused":
        if model is None:
            raise ValueError("mining hard negatives needs the model")
        negatives = mined_by(model, progress)
    elif config.hard_negatives and config.hard_negatives != "auto":
        negatives = _read_negatives(config.hard_negatives, data.corpus)
        negatives = {q: n for q, n in negatives.items() if q in set(train_q)}  # never a dev query's
    # Inverse cloze pairs from documents no query of the split judges, so never a dev query's document.
    judged = {d for q in data.qrels for d in data.qrels[q]}
    pseudo = inverse_cloze_pairs(data.corpus, judged, config.pseudo_queries, config.seed) \
        if config.pseudo_queries else []
    columns, rows = _beir_rows(spec, pairs, data.queries, data.corpus, data.qrels, negatives,
                               config.negatives_per_pair, config.seed, pseudo)
    dev_qrels = {q: data.qrels[q] for q in dev_q}

    def remine(current: "SentenceTransformer", epoch: int) -> list[tuple]:
        """Rows as at the start, with the negatives ``current`` mines now (random fill-ups drawn afresh)."""
        again = _beir_rows(spec, pairs, data.queries, data.corpus, data.qrels, mined_by(current),
                           config.negatives_per_pair, config.seed + epoch, pseudo)
        if again[0] != columns or len(again[1]) != len(rows):
            raise RuntimeError("re-mined rows must keep the columns and the number of rows")
        return again[1]

    return TrainingSet(columns=columns, rows=rows, dev_queries={q: data.queries[q] for q in dev_q},
                       dev_corpus=_dev_corpus(data.corpus, dev_qrels, config.dev_corpus_size, config.seed),
                       dev_qrels=dev_qrels, remine=remine if config.remine else None, pseudo_pairs=len(pseudo))


def _prepare_examples(examples: Examples, config: TrainConfig) -> TrainingSet:
    """Rows from an example file, whose own columns bring any negatives ("auto" mines nothing here)."""
    spec = get_spec(config.loss)
    if examples.kind == "labelled" and not spec.labelled_pairs:
        fits = _either(s.name for s in LOSS_SPECS.values() if s.labelled_pairs)
        raise InputError(f"loss '{spec.name}' needs query-positive pairs or triplets; the data has labelled pairs "
                         f"(text_a, text_b, label): use --loss {fits}")
    if examples.kind == "pairs" and spec.negatives == "required":
        fits = _either(s.name for s in LOSS_SPECS.values() if s.negatives != "required")
        raise InputError(f"loss '{spec.name}' needs negatives; the data has (query, positive) pairs: use --loss "
                         f"{fits}, or train on a BEIR folder (negatives are mined or drawn there)")
    positions = list(range(len(examples.rows)))
    train_rows, dev_rows = _split(positions, config.dev_fraction, config.seed)
    rows = [examples.rows[i] for i in sorted(train_rows)]
    if examples.kind == "labelled":
        dev = Examples("labelled", examples.columns, [examples.rows[i] for i in sorted(dev_rows)])
        return TrainingSet(columns=examples.columns, rows=rows, dev_pairs=dev if dev.rows else None)
    # pairs and triplets: dev retrieval of each dev anchor's positive among every text of the file
    texts = sorted({t for row in examples.rows for t in row[1:]})
    doc_of = {t: f"doc{i}" for i, t in enumerate(texts)}
    corpus = {doc_of[t]: _document(t) for t in texts}
    dev_queries, dev_qrels = {}, {}
    for i in sorted(dev_rows):
        qid = f"dev{i}"
        dev_queries[qid] = examples.rows[i][0]
        dev_qrels[qid] = {doc_of[examples.rows[i][1]]: 1}
    # a pair's anchor text is its key: the batch-hard losses put an anchor and its positives in one class
    pairs = [TrainingPair(row[0], row[0], row[1], None if examples.kind == "pairs" else tuple(row[2:]))
             for row in rows]
    columns, rows = spec.build_rows(pairs)
    return TrainingSet(columns=columns, rows=rows, dev_queries=dev_queries, dev_corpus=corpus, dev_qrels=dev_qrels)


def _either(names: Iterable[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    names = list(names)
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def _document(text: str):
    from ..data import Document

    return Document(text)
