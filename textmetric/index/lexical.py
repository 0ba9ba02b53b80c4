"""The lexical side: BM25 over the documents' words (``bm25s``), with explicit tokenisation settings.

A ``LexicalIndex`` tokenises every text the same way -- regex words of two or more
characters, lowercased, English stop words dropped, Snowball-stemmed (PyStemmer)
-- and scores with bm25s's Lucene BM25 (k1 = 1.5, b = 0.75). The settings travel
with the index (the stop-word list itself, not a name), so a query is always
tokenised as its documents were. bm25s cannot add or delete documents: a
``LexicalSide`` rebuilds the index from the live documents instead, which is fast.

On disk (a folder, usually ``lexical/`` inside an index folder): bm25s's own
files -- three ``.npy`` arrays of the sparse score matrix, saved without pickle,
and two JSON files (vocabulary, parameters) -- plus ``ids.json``, the doc id of
each row. No pickle anywhere: the arrays are read back with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from ..search.ranking import Hits, id_ranks, top_hits

__all__ = ["LexicalSettings", "LexicalIndex", "LexicalSide", "BM25Statistics", "ENGLISH_STOPWORDS", "STEMMERS"]

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s's and scikit-learn's default: words of two or more characters
# Lucene's classic English stop set (EnglishAnalyzer; bm25s's STOPWORDS_EN): short, so meaning-bearing words stay.
ENGLISH_STOPWORDS = ("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
                     "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
                     "they", "this", "to", "was", "will", "with")
STOPWORD_LISTS = {"en": ENGLISH_STOPWORDS, "none": ()}
STEMMERS = ("english", "none")
DEFAULT_STOPWORDS, DEFAULT_STEMMER = "en", "english"  # Lucene's English analyser, as Anserini indexes
IDS = "ids.json"
_BM25_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "vocab.index.json",
               "params.index.json")


@dataclass(frozen=True)
class LexicalSettings:
    """How texts become BM25 terms, and the BM25 parameters; recorded in the index manifest.

    ``stopwords`` is the list itself (``ENGLISH_STOPWORDS`` by default, ``()`` keeps
    every word); ``stemmer`` a Snowball algorithm of PyStemmer (``"english"``) or
    ``None``. Defaults: Lucene's BM25 (k1 1.5, b 0.75) as Anserini and bm25s use it.
    """

    lowercase: bool = True
    stopwords: tuple[str, ...] = ENGLISH_STOPWORDS
    stemmer: str | None = "english"
    k1: float = 1.5
    b: float = 0.75
    token_pattern: str = TOKEN_PATTERN

    @classmethod
    def named(cls, stopwords: str = DEFAULT_STOPWORDS, stemmer: str = DEFAULT_STEMMER, **kwargs) -> "LexicalSettings":
        """Settings from option names: ``stopwords`` 'en' or 'none', ``stemmer`` 'english' or 'none'."""
        if stopwords not in STOPWORD_LISTS:
            raise InputError(f"unknown stop-word list '{stopwords}' (expected one of {', '.join(STOPWORD_LISTS)})")
        return cls(stopwords=STOPWORD_LISTS[stopwords], stemmer=None if stemmer == "none" else stemmer, **kwargs)

    def to_dict(self) -> dict:
        """The manifest record: every field, the stop words as a list."""
        return {**asdict(self), "stopwords": list(self.stopwords), "method": "lucene"}

    @classmethod
    def from_dict(cls, record: object, source: str | os.PathLike | None = None) -> "LexicalSettings":
        """Settings back from a manifest record; a clear error for a malformed one."""
        kinds = {"lowercase": bool, "stopwords": list, "stemmer": (str, type(None)), "k1": (int, float),
                 "b": (int, float), "token_pattern": str}
        if not isinstance(record, dict) or record.get("method", "lucene") != "lucene":
            raise InputError("malformed 'lexical.settings'", source)
        for key, kind in kinds.items():
            if not isinstance(record.get(key), kind):
                raise InputError(f"missing or malformed 'lexical.settings.{key}'", source)
        return cls(lowercase=record["lowercase"], stopwords=tuple(record["stopwords"]), stemmer=record["stemmer"],
                   k1=float(record["k1"]), b=float(record["b"]), token_pattern=record["token_pattern"])


class Tokenizer:
    """Text -> BM25 terms under one ``LexicalSettings``: regex words, lowercased, stop words out, stemmed."""

    def __init__(self, settings: LexicalSettings) -> None:
        self.settings = settings
        self._split = re.compile(settings.token_pattern).findall
        self._stop = frozenset(settings.stopwords)
        self._stem = None
        if settings.stemmer is not None:
            try:
                import Stemmer
            except ImportError:
                raise InputError(f"stemming '{settings.stemmer}' needs PyStemmer: pip install PyStemmer") from None
            if settings.stemmer not in Stemmer.algorithms():
                raise InputError(f"unknown stemmer '{settings.stemmer}' (PyStemmer has "
                                 f"{', '.join(Stemmer.algorithms())})")
            self._stem = Stemmer.Stemmer(settings.stemmer).stemWords

    def __call__(self, text: str) -> list[str]:
        if self.settings.lowercase:
            text = text.lower()
        words = [w for w in self._split(text) if w not in self._stop]
        return self._stem(words) if self._stem is not None and words else words


@dataclass
class BM25Statistics:
    """The corpus statistics BM25 scores with: document count, total length in terms, each term's document
    frequency. Those of a whole collection let each shard score exactly as one index of it would."""

    documents: int = 0
    terms: int = 0  # the summed lengths; the average length is terms / documents
    df: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, token_lists: Sequence[Sequence[str]]) -> "BM25Statistics":
        """The statistics of documents already tokenised."""
        df: Counter = Counter()
        for tokens in token_lists:
            df.update(set(tokens))
        return cls(len(token_lists), sum(len(t) for t in token_lists), dict(df))

    @classmethod
    def merged(cls, parts: Sequence["BM25Statistics"]) -> "BM25Statistics":
        """The statistics of the union of disjoint sets of documents."""
        df: Counter = Counter()
        for part in parts:
            df.update(part.df)
        return cls(sum(p.documents for p in parts), sum(p.terms for p in parts), dict(sorted(df.items())))

    def to_dict(self) -> dict:
        return {"documents": self.documents, "terms": self.terms, "df": self.df}

    @classmethod
    def from_dict(cls, record: object, source: str | os.PathLike | None = None) -> "BM25Statistics":
        """Statistics back from their JSON record; a clear error for a malformed one."""
        if not (isinstance(record, dict) and all(isinstance(record.get(k), int) and record[k] >= 0
                                                 for k in ("documents", "terms"))
                and isinstance(record.get("df"), dict)
                and all(isinstance(v, int) and v > 0 for v in record["df"].values())):
            raise InputError("malformed BM25 statistics (documents, terms, df)", source)
        return cls(record["documents"], record["terms"], record["df"])


def _scores_with(bm25, token_lists: Sequence[Sequence[str]], stats: BM25Statistics) -> None:
    """Fill ``bm25`` (a bm25s.BM25) with the score matrix of ``token_lists`` under collection statistics
    ``stats`` instead of their own: the vocabulary and arithmetic of ``bm25s.BM25.index`` (Lucene BM25,
    idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part tf / (tf + k1 (1 - b + b dl / avgdl))), only N, df and
    avgdl taken from the collection, so the scores are bit for bit those of one index of the collection."""
    from bm25s import get_unique_tokens
    from bm25s.scoring import _build_idf_array, _build_scores_and_indices_for_matrix, _score_idf_lucene

    unique = get_unique_tokens(token_lists, show_progress=False)
    vocab = {token: i for i, token in enumerate(unique)}
    missing = [t for t in unique if t not in stats.df]
    if missing:
        raise ValueError(f"term '{missing[0]}' is not in the collection statistics")
    token_ids = [[vocab[t] for t in tokens] for tokens in token_lists]
    local_df = {vocab[t]: 0 for t in unique}
    for ids in token_ids:
        for i in set(ids):
            local_df[i] += 1
    idf = _build_idf_array({vocab[t]: stats.df[t] for t in unique}, stats.documents, _score_idf_lucene,
                           dtype=bm25.dtype)
    avgdl = np.float64(stats.terms) / stats.documents  # as bm25s: the mean of the lengths, a float64
    scores, rows, cols = _build_scores_and_indices_for_matrix(
        token_ids, idf, avgdl, local_df, bm25.k1, bm25.b, bm25.delta, None, method=bm25.method,
        dtype=bm25.dtype, int_dtype=bm25.int_dtype, show_progress=False)
    data, indices, indptr = bm25._np_csc(data=scores, rows=rows, cols=cols, shape=(len(token_ids), len(vocab)))
    bm25.scores = {"data": data.astype(bm25.dtype), "indices": indices, "indptr": indptr,
                   "num_docs": len(token_ids)}
    if "" not in vocab:  # as bm25s.BM25.index adds it for a corpus of strings
        vocab[""] = max(vocab.values(), default=-1) + 1
    bm25.vocab_dict = vocab
    bm25.nonoccurrence_array = None  # Lucene BM25 has none (BM25L and BM25+ do)
    bm25.unique_token_ids_set = set(vocab.values())


class LexicalIndex:
    """BM25 (bm25s, Lucene variant) over a fixed set of documents; rebuilt, never edited."""

    def __init__(self, settings: LexicalSettings | None = None) -> None:
        self.settings = settings or LexicalSettings()
        self.tokenize = Tokenizer(self.settings)
        self.ids: list[str] = []
        self._bm25 = None
        self._id_rank = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str], settings: LexicalSettings | None = None, *,
              statistics: BM25Statistics | None = None) -> "LexicalIndex":
        """Tokenise ``texts`` and build the BM25 score matrix; ``ids[i]`` names ``texts[i]``.

        ``statistics``: those of a whole collection these texts are part of (a shard), to score with
        instead of the texts' own (see :class:`BM25Statistics`)."""
        import bm25s

        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        index = cls(settings)
        index.ids = list(ids)
        if index.ids:
            s = index.settings
            index._bm25 = bm25s.BM25(k1=s.k1, b=s.b, method="lucene")
            tokens = [index.tokenize(t) for t in texts]
            if statistics is None:
                index._bm25.index(tokens, show_progress=False)
            else:
                _scores_with(index._bm25, tokens, statistics)
        index._id_rank = id_ranks(index.ids)
        return index

    def search(self, query_texts: Sequence[str], k: int, rows: np.ndarray | None = None) -> list[Hits]:
        """Top ``k`` documents per query by BM25, in trec_eval order (score descending, ties by id descending);
        among the documents of ``rows`` (positions in ``ids``) only, when given.

        Only documents sharing at least one term with the query come back (every
        such score is positive), so a query may get fewer than ``k`` hits, or none.
        """
        allowed = None
        if rows is not None:
            allowed = np.zeros(len(self.ids), dtype=bool)
            allowed[rows] = True
        return [self._search_one(text, k, allowed) for text in query_texts]

    def _search_one(self, text: str, k: int, allowed: np.ndarray | None) -> Hits:
        if self._bm25 is None or k < 1:
            return []
        vocab = self._bm25.vocab_dict
        terms = [vocab[t] for t in self.tokenize(text) if t in vocab]
        if not terms:
            return []
        scores = self._bm25.get_scores_from_ids(terms)
        found = scores > 0 if allowed is None else (scores > 0) & allowed
        return top_hits(scores, np.flatnonzero(found), k, self.ids, self._id_rank)

    # -- on disk ---------------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> list[str]:
        """Write the index into ``folder`` (created); returns the names of the files written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        names = [IDS]
        (folder / IDS).write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")
        if self._bm25 is not None:
            self._bm25.save(str(folder), allow_pickle=False, show_progress=False)
            names += list(_BM25_FILES)
        return names

    @classmethod
    def load(cls, folder: str | os.PathLike, settings: LexicalSettings) -> "LexicalIndex":
        """Read what ``save`` wrote; ``settings`` (from the manifest) must be those it was built with."""
        import bm25s

        folder = Path(folder)
        index = cls(settings)
        try:
            ids = json.loads((folder / IDS).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read {IDS}: {e}", folder) from None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InputError(f"{IDS} is not a list of doc ids", folder)
        index.ids = ids
        if ids:
            try:
                index._bm25 = bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False, show_progress=False)
            except (OSError, ValueError) as e:
                raise InputError(f"cannot read the BM25 matrix: {e}", folder) from None
            if index._bm25.scores["num_docs"] != len(ids):
                raise InputError(f"the BM25 matrix holds {index._bm25.scores['num_docs']} documents but {IDS} "
                                 f"names {len(ids)}", folder)
        index._id_rank = id_ranks(ids)
        return index


class LexicalSide:
    """The BM25 side of a changing set of documents: a :class:`LexicalIndex` rebuilt from them
    (``documents`` gives the live ids and texts) when it is next needed after a change."""

    def __init__(self, settings: LexicalSettings, documents: Callable[[], tuple[list[str], list[str]]],
                 built: LexicalIndex | None = None, *, statistics: BM25Statistics | None = None) -> None:
        self.settings = settings
        self.statistics = statistics  # a collection's, to score with (see LexicalIndex.build); None: their own
        self._documents = documents
        self._index = built  # None while stale
        self._building = threading.Lock()

    def changed(self) -> None:
        """The documents changed: rebuild before the next search or save."""
        self._index = None

    def current(self) -> LexicalIndex:
        """The BM25 index of the documents as they are now (built here if they changed)."""
        with self._building:
            if self._index is None:
                ids, texts = self._documents()
                self._index = LexicalIndex.build(ids, texts, self.settings, statistics=self.statistics)
            return self._index

    def search(self, query_texts: Sequence[str], k: int, rows: np.ndarray | None = None) -> list[Hits]:
        """:meth:`LexicalIndex.search` over the current documents."""
        return self.current().search(query_texts, k, rows)

    def save(self, folder: str | os.PathLike) -> list[str]:
        """:meth:`LexicalIndex.save` of the current documents."""
        return self.current().save(folder)
