"""Indexes: vectors under integer labels, their documents, the BM25 side, the index folder, shards, building.

``Index`` (HNSW, saved as a folder) and ``ExactIndex`` (exact, in memory) are what a
user opens; ``protocols`` says what every index answers. The parts: ``vectors``,
``docstore``, ``lexical``, ``folder`` (manifest, checksums, generations, the writer lock), ``locking``.
``shards`` searches several indexes as one; ``building`` turns a corpus into an index; ``filters``
says which documents a search may return, by their fields.
"""

from .folder import FORMAT_VERSION, index_exists, read_manifest, write_lock
from .index import ExactIndex, Index
from .locking import DEFAULT_LOCK_TIMEOUT, LockTimeout
from .protocols import DenseSearch, DocumentLookup, LexicalSearch, SearchIndex, VectorLookup
from .vectors import DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, SPACES, space_of

__all__ = ["Index", "ExactIndex", "FORMAT_VERSION", "DEFAULT_M", "DEFAULT_EF_CONSTRUCTION", "DEFAULT_EF",
           "SPACES", "space_of", "read_manifest", "index_exists", "DenseSearch", "LexicalSearch", "VectorLookup",
           "DocumentLookup", "SearchIndex", "write_lock", "LockTimeout", "DEFAULT_LOCK_TIMEOUT"]
