"""Vector indexes under integer labels: an HNSW graph (hnswlib) and exact search (numpy).

Both hold float32 vectors of one dimension in one space and know nothing of doc ids:
the document store maps labels to documents. Scores are similarities, higher is
closer: cosine similarity for ``cosine``, the inner product for ``ip``, minus the
squared distance for ``l2``. A label, once deleted, is never searched again.

A filtered search looks only at the labels a filter allows. Exact search scores just
those. The graph is searched one of two ways, whichever costs fewer distance
computations (:func:`scan_is_cheaper`): a scan of the allowed vectors, which is exact,
or hnswlib's filter inside the graph walk, which passes through every node but keeps
only allowed ones as results, and stops once it holds ``ef`` of them with nothing nearer
left to explore: the rule of an unfiltered search, applied to the allowed documents.
"""

from __future__ import annotations

import numbers
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

from ..errors import InputError, option
from ..search.ranking import top_k

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["SPACES", "space_of", "HnswVectors", "GraphHeader", "ExactVectors", "DEFAULT_M",
           "DEFAULT_EF_CONSTRUCTION", "DEFAULT_EF", "HNSW_SEED", "MAX_M", "MAX_EF", "check_hnsw_setting",
           "scan_is_cheaper"]

SPACES = ("cosine", "ip", "l2")
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF = 100
HNSW_SEED = 100
MAX_M = 10_000  # hnswlib links no more (it warns and takes 10000)
MAX_EF = 2 ** 31 - 1  # hnswlib's search depths are C integers; a depth past the number of vectors changes nothing


def check_hnsw_setting(name: str, value: int, maximum: int) -> int:
    """``value`` as an int when it is a whole number from 1 to ``maximum``, else an InputError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= maximum:
        raise InputError(f"{option(name)} must be a whole number from 1 to {maximum:,}, got {value!r}")
    return int(value)

_SPACE_OF_SIMILARITY = {"cosine": "cosine", "dot": "ip", "euclidean": "l2"}


def space_of(model: "SentenceTransformer") -> str:
    """The search space matching the model's own similarity function (cosine for most models)."""
    name = str(model.similarity_fn_name or "cosine")
    try:
        return _SPACE_OF_SIMILARITY[name]
    except KeyError:
        raise InputError(f"the model's similarity '{name}' has no search space "
                         f"(supported: {', '.join(_SPACE_OF_SIMILARITY)})") from None


def check_space(space: str) -> None:
    if space not in SPACES:
        raise InputError(f"unknown space '{space}' (expected one of {', '.join(SPACES)})")


class GraphHeader(NamedTuple):
    """What an hnswlib graph file says of itself: enough to check the manifest against it before reading it."""

    dim: int
    elements: int
    m: int
    ef_construction: int


# hnswlib's saveIndex header: offsetLevel0, max_elements, cur_element_count, size_data_per_element,
# label_offset, offsetData (size_t); maxlevel (int); enterpoint_node (unsigned); maxM, maxM0, M (size_t);
# mult (double); ef_construction (size_t). The float32 vector of an element lies between offsetData and
# label_offset.
_HEADER = struct.Struct("=QQQQQQiIQQQdQ")


class HnswVectors:
    """An hnswlib graph: approximate nearest neighbours, ``ef`` the default search depth.

    hnswlib forgets its space, dimension and ef when it saves: whoever saves the graph
    records them (the index manifest) and gives them back to :meth:`load`.
    """

    def __init__(self, dim: int, space: str = "cosine", *, m: int = DEFAULT_M,
                 ef_construction: int = DEFAULT_EF_CONSTRUCTION, ef: int = DEFAULT_EF, capacity: int = 1024,
                 seed: int = HNSW_SEED, graph=None) -> None:
        """A new empty graph, or (``graph``) one that :meth:`load` read."""
        import hnswlib

        check_space(space)
        if dim < 1:
            raise InputError(f"dim must be at least 1, got {dim}")
        self.dim, self.space = int(dim), space
        self.m = check_hnsw_setting("m", m, MAX_M)
        self.ef_construction = check_hnsw_setting("ef_construction", ef_construction, MAX_EF)
        self.ef = check_hnsw_setting("ef", ef, MAX_EF)
        self.seed = int(seed)
        if graph is None:
            graph = hnswlib.Index(space=space, dim=self.dim)
            graph.init_index(max_elements=max(capacity, 1), M=self.m, ef_construction=self.ef_construction,
                             random_seed=self.seed)
        self.graph = graph

    @property
    def element_count(self) -> int:
        """Vectors in the graph, deleted ones included."""
        return int(self.graph.element_count)

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        """Insert float32 ``vectors`` under new ``labels``, growing the graph as needed."""
        needed = self.graph.element_count + len(labels)
        if needed > self.graph.get_max_elements():
            self.graph.resize_index(max(needed, 2 * self.graph.get_max_elements()))
        self.graph.add_items(vectors, labels)

    def delete(self, labels: Sequence[int]) -> None:
        """Mark ``labels`` deleted: they stay in the graph (as links) but never come back from a search."""
        for label in labels:
            self.graph.mark_deleted(label)

    def search(self, queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels and float32 scores of each query's ``k`` nearest live vectors, best first (``k`` <= live count).

        ef is graph state: the caller holds the index's read lock for this ef, so every
        concurrent reader asked for the same value. Only the retry below raises it, which
        for the others can only raise recall.
        """
        return self._walk(queries, k, ef)

    def search_among(self, queries: np.ndarray, k: int, ef: int, allowed: np.ndarray, live: int,
                     tie_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`search`, among the ``allowed`` live labels only (``k`` <= their count; ``live``: the live
        count): a scan of their vectors when :func:`scan_is_cheaper`, else the graph walk with hnswlib's filter
        (and the scan after all if the walk cannot gather ``k`` of them). The scan breaks ties by ``tie_rank``."""
        if not scan_is_cheaper(len(allowed), live, self.m, ef):
            try:
                return self._walk(queries, k, ef, frozenset(allowed.tolist()).__contains__)
            except RuntimeError:
                pass  # even a beam as wide as the graph did not reach k allowed vectors
        return self._scan(queries, k, allowed, tie_rank)

    def _walk(self, queries: np.ndarray, k: int, ef: int, allow=None) -> tuple[np.ndarray, np.ndarray]:
        while True:
            self.graph.set_ef(ef)
            try:
                if allow is None:
                    labels, distances = self.graph.knn_query(queries, k=k)
                else:  # hnswlib calls ``allow`` under the GIL: more threads would only wait for it
                    labels, distances = self.graph.knn_query(queries, k=k, num_threads=1, filter=allow)
                break
            except RuntimeError:
                # With many deleted (or filtered) elements the beam may not reach k live ones: widen it.
                if ef >= self.graph.element_count:
                    raise
                ef = min(2 * ef, self.graph.element_count)
        # hnswlib's distances: 1 - cosine, 1 - inner product, or the squared L2 distance, ascending.
        return labels, (-distances if self.space == "l2" else np.float32(1) - distances).astype(np.float32)

    def _scan(self, queries: np.ndarray, k: int, allowed: np.ndarray, tie_rank: np.ndarray,
              chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.vectors(allowed)
        sq_norms = (vectors ** 2).sum(axis=1) if self.space == "l2" else None
        order, positions = tie_rank[allowed], np.arange(len(allowed))
        labels = np.empty((len(queries), k), dtype=np.int64)
        scores = np.empty((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), chunk):
            values = similarities(queries[start:start + chunk], vectors, self.space, sq_norms)
            for row, row_values in enumerate(values, start=start):
                best = top_k(row_values, positions, k, order)
                labels[row], scores[row] = allowed[best], row_values[best]
        return labels, scores

    def vectors(self, labels: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``labels`` (normalised for the cosine space, as hnswlib keeps them)."""
        return np.asarray(self.graph.get_items(list(labels)), dtype=np.float32).reshape(len(labels), self.dim)

    def save(self, path: str | os.PathLike) -> None:
        """Write the graph to the file ``path``."""
        self.graph.save_index(str(path))

    @staticmethod
    def header(path: str | os.PathLike) -> GraphHeader | None:
        """The header of the graph file ``path``, or None if it is too short or inconsistent to be one."""
        with open(path, "rb") as f:
            raw = f.read(_HEADER.size)
        if len(raw) < _HEADER.size:
            return None
        (_, _, count, per_element, label_offset, data_offset, _, _, _, _, m, _,
         ef_construction) = _HEADER.unpack(raw)
        data_bytes = label_offset - data_offset
        if not 0 < data_bytes < per_element or data_bytes % 4:
            return None
        return GraphHeader(data_bytes // 4, count, m, ef_construction)

    @classmethod
    def load(cls, path: str | os.PathLike, dim: int, space: str, *, elements: int, m: int = DEFAULT_M,
             ef_construction: int = DEFAULT_EF_CONSTRUCTION, ef: int = DEFAULT_EF,
             seed: int = HNSW_SEED, source: str | os.PathLike | None = None) -> "HnswVectors":
        """Read a graph of ``elements`` vectors that :meth:`save` wrote; an InputError (naming ``source``, by
        default ``path``) if it cannot be read."""
        import hnswlib

        source = Path(source if source is not None else path)
        graph = hnswlib.Index(space=space, dim=dim)
        try:
            graph.load_index(os.fspath(path), max_elements=max(elements, 1))
        except RuntimeError as e:
            raise InputError(f"cannot read {source.name}: {e}", source.parent) from None
        return cls(dim, space, m=m, ef_construction=ef_construction, ef=ef, seed=seed, graph=graph)


class ExactVectors:
    """Every vector in one numpy array; a search scores them all: the reference HNSW is measured against."""

    def __init__(self, dim: int, space: str = "cosine", capacity: int = 0) -> None:
        check_space(space)
        self.dim, self.space = int(dim), space
        self._vectors = np.zeros((capacity, self.dim), dtype=np.float32)  # row = label
        self._sq_norms = np.zeros(capacity, dtype=np.float32)  # for l2
        self._live = np.zeros(capacity, dtype=bool)
        self._size = 0  # rows in use: 1 + the largest label added
        self._live_labels: np.ndarray | None = np.zeros(0, dtype=np.int64)

    @property
    def element_count(self) -> int:
        """Rows held, deleted ones included."""
        return self._size

    @property
    def live_labels(self) -> np.ndarray:
        """The labels not deleted, ascending."""
        if self._live_labels is None:
            self._live_labels = np.flatnonzero(self._live[:self._size])
        return self._live_labels

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        """Hold ``vectors`` under ``labels`` (normalised first for the cosine space)."""
        self._put(_prepare(vectors, self.space), np.asarray(labels, dtype=np.int64))

    def _put(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        size = max(self._size, int(labels.max()) + 1) if len(labels) else self._size
        if size > len(self._vectors):
            grow = max(size, 2 * len(self._vectors))
            self._vectors = _grown(self._vectors, grow)
            self._sq_norms = _grown(self._sq_norms, grow)
            self._live = _grown(self._live, grow)
        self._vectors[labels] = vectors
        if self.space == "l2":
            self._sq_norms[labels] = (vectors ** 2).sum(axis=1)
        self._live[labels] = True
        self._size = size
        self._live_labels = None

    def delete(self, labels: Sequence[int]) -> None:
        """Drop ``labels`` from every later search."""
        self._live[np.asarray(labels, dtype=np.int64)] = False
        self._live_labels = None

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Similarity of each query to each row (higher is closer), float32; deleted rows included."""
        return similarities(queries, self._vectors[:self._size], self.space, self._sq_norms[:self._size])

    def search(self, queries: np.ndarray, k: int, tie_rank: np.ndarray | None = None,
               chunk: int = 256, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Labels and float32 scores of each query's ``k`` best live vectors (``k`` <= live count), best first;
        among the live labels ``candidates`` only, when given (``k`` <= their count).

        Ties are broken by ``tie_rank[label]`` ascending (by label without it), the cut at
        ``k`` included: given trec_eval's doc-id order, the result is trec_eval's exactly.
        """
        candidates = self.live_labels if candidates is None else candidates
        order = np.arange(self._size) if tie_rank is None else tie_rank
        labels = np.empty((len(queries), k), dtype=np.int64)
        scores = np.empty((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), chunk):
            for row, values in enumerate(self.scores(queries[start:start + chunk]), start=start):
                labels[row] = top_k(values, candidates, k, order)
                scores[row] = values[labels[row]]
        return labels, scores

    def vectors(self, labels: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``labels`` (normalised for the cosine space)."""
        return self._vectors[np.asarray(labels, dtype=np.int64)].reshape(len(labels), self.dim)

    def save(self, path: str | os.PathLike) -> None:
        """Write the live vectors and their labels to ``path`` (``.npz``, no pickle)."""
        labels = self.live_labels
        with open(path, "wb") as f:
            np.savez(f, labels=labels, vectors=self._vectors[labels], space=np.array(self.space))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ExactVectors":
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as saved:
            vectors, labels = saved["vectors"], saved["labels"]
            exact = cls(vectors.shape[1], str(saved["space"]), capacity=len(labels))
            exact._put(np.ascontiguousarray(vectors, dtype=np.float32), labels.astype(np.int64))
        return exact


def scan_is_cheaper(allowed: int, live: int, m: int, ef: int) -> bool:
    """Whether scanning ``allowed`` of ``live`` vectors costs no more distance computations than a filtered
    graph walk: ``allowed² <= 2·M·ef·live``.

    An unfiltered walk computes about 2·M·ef distances (ef results, up to 2·M links at layer
    0 each); a filter that lets through a fraction s = allowed / live makes it meet about
    1/s times as many nodes to gather ef allowed ones, 2·M·ef·live / allowed in all, while a
    scan computes ``allowed``. Below the line the scan wins, and it is exact.
    """
    return allowed * allowed <= 2 * m * ef * live


def similarities(queries: np.ndarray, vectors: np.ndarray, space: str,
                 sq_norms: np.ndarray | None = None) -> np.ndarray:
    """Similarity of each query to each of ``vectors`` (stored: normalised for ``cosine``), higher is closer,
    float32; ``sq_norms``, the vectors' squared norms, for ``l2``."""
    q = _prepare(queries, space)
    dots = q @ vectors.T
    if space == "l2":  # negative squared distance, so that higher is closer
        return 2 * dots - (q ** 2).sum(axis=1, keepdims=True) - sq_norms[None, :]
    return dots


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    grown = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    grown[:len(array)] = array
    return grown


def _prepare(embeddings: np.ndarray, space: str) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ValueError(f"expected a 2-d array of embeddings, got shape {embeddings.shape}")
    if space == "cosine":
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return np.ascontiguousarray(embeddings / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)
    return np.ascontiguousarray(embeddings, dtype=np.float32)
