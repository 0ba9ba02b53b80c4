"""The embedded default dataset: semantic search over the Python standard library, built offline.

Every machine with Python has the same real text to learn from: the docstrings of
its standard library. One document per public module, class, function and method
that has a docstring -- id the qualified name (``json.dumps``), title the qualified
name and signature, text the docstring without its summary line -- and one query
per document, that summary line (the inverse cloze task: find the documentation a
one-line description was cut from). Train and test are split by top-level module,
so every test query comes from a module never trained on.

The docstrings are read from the running interpreter by a child process
(``python -I -S -B``, see ``_stdlib_scan.py``) so that nothing a module does on
import reaches the caller; modules that open windows or a browser, print, or
belong to another platform are skipped. Building takes about a second; the result
is cached as a BEIR folder keyed by the Python version and the build settings,
with each file's SHA-256 in its ``manifest.json``, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..atomic import atomic_folder, check_output_folder
from ..data import Corpus, Document, Qrels, Queries, RetrievalData, load_corpus, load_qrels, load_queries
from ..errors import InputError, warn

__all__ = ["Collection", "stdlib", "stdlib_collection", "build_stdlib", "scan_stdlib", "make_collection",
           "split_docstring", "write_beir", "export_stdlib", "cache_root", "QUICK_MODULES", "MAX_DOCUMENTS",
           "TEST_FRACTION"]

FORMAT_VERSION = 1
TEST_FRACTION = 0.3  # expected share of the modules (so of their queries) in the test split
MAX_DOCUMENTS = 4000  # a cap: CPython 3.11 yields about 2,200, so it only bites on a much larger library
MIN_SUMMARY_WORDS = 4
MAX_SUMMARY_WORDS = 30
MIN_TEXT_WORDS = 5  # the text left once the summary is cut: at least a short sentence
QUERY_PREFIX = "q:"  # query ids: q:json.dumps (BEIR tools drop hits whose id equals the query id)
SPLITS = ("train", "test")
SCAN_TIMEOUT = 600

QUICK_MODULES = (
    "argparse", "base64", "bisect", "calendar", "collections", "configparser", "contextlib", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "fileinput", "fnmatch", "fractions", "functools", "glob",
    "gzip", "hashlib", "heapq", "io", "itertools", "json", "logging", "math", "os", "pathlib", "pickle",
    "posix", "posixpath", "queue", "random", "re", "secrets", "shlex", "shutil", "sqlite3", "statistics",
    "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "time", "urllib",
    "uuid", "zipfile", "zlib",
)
"""Well-known modules, the ``--quick`` demo slice: 737 documents, 450 train and 287 test queries on CPython 3.11."""

# Modules documented apart that are one subject: they go to the same split.
_SPLIT_GROUP = {"posix": "os", "posixpath": "os", "ntpath": "os", "genericpath": "os",
                "sre_compile": "re", "sre_parse": "re", "sre_constants": "re"}

# Summaries that say nothing about the object (slot wrappers and other boilerplate).
_GENERIC = re.compile(
    r"^(return self\b|return repr\(self\)|return str\(self\)|return hash\(self\)|implement |initialize self"
    r"|create and return a new object|helper for pickle|default object formatter|see help\(type\(self\)\)"
    r"|return getattr\(self|return a copy of self|abstract method\.?$|method generated)", re.IGNORECASE)
_SIGNATURE_LINE = re.compile(r"^[A-Za-z_][\w.]*\(|->")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`'\"(])")


@dataclass
class Collection:
    """A corpus with its queries and the judgments of each split (``train``, ``test``)."""

    corpus: Corpus
    queries: Queries
    qrels: dict[str, Qrels]
    modules: dict[str, list[str]] = field(default_factory=dict)  # each split's top-level modules
    build_seconds: float | None = None  # set when it was built now rather than read from the cache

    def split(self, name: str = "test") -> RetrievalData:
        """The whole corpus with one split's queries and judgments (the form every loader returns)."""
        if name not in self.qrels:
            raise InputError(f"no split '{name}' (splits: {', '.join(self.qrels)})")
        qrels = self.qrels[name]
        return RetrievalData(corpus=self.corpus, queries={q: self.queries[q] for q in qrels}, qrels=qrels)


# -- from a docstring to a (query, document) pair ------------------------------------------------

def split_docstring(doc: str) -> tuple[str, str] | None:
    """``(summary, rest)`` of a cleaned docstring, or None when it makes no usable pair.

    The summary is the first sentence of the first paragraph (leading signature lines
    such as ``max(iterable) -> value`` are passed over); the rest is everything after
    it. None when the summary has fewer than 4 or more than 30 words, when it is
    generic (``Return self==value.``), or when fewer than 5 words remain.
    """
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", doc.strip()) if p.strip()]
    while paragraphs and _SIGNATURE_LINE.search(paragraphs[0].splitlines()[0]):
        paragraphs.pop(0)
    if not paragraphs:
        return None
    sentences = _SENTENCE_END.split(" ".join(paragraphs[0].split()), maxsplit=1)
    summary = sentences[0]
    rest = "\n\n".join(([sentences[1]] if len(sentences) > 1 else []) + paragraphs[1:])
    words = len(summary.split())
    if not MIN_SUMMARY_WORDS <= words <= MAX_SUMMARY_WORDS or _GENERIC.match(summary):
        return None
    if len(rest.split()) < MIN_TEXT_WORDS:
        return None
    return summary, rest


def _summary_key(summary: str) -> str:
    return " ".join(summary.lower().split()).rstrip(".")


def split_group(doc_id: str) -> str:
    """The unit of the train/test split a document belongs to: its top-level module (os for posix...)."""
    top = doc_id.split(".", 1)[0]
    return _SPLIT_GROUP.get(top, top)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _in_test(group: str, test_fraction: float) -> bool:
    """Whether a module group is a test group: a fixed property of its name, whatever else is built."""
    return int(_digest(group), 16) % 10_000 < round(test_fraction * 10_000)


def make_collection(records: Sequence[dict], *, max_docs: int | None = MAX_DOCUMENTS,
                    test_fraction: float = TEST_FRACTION) -> Collection:
    """Documents, queries and the module split from scanned records (``{id, kind, signature, doc}``).

    Records whose docstring makes no pair are dropped, and so is every record whose
    summary another one shares (its query would have two right answers). Over
    ``max_docs``, the documents with the smallest SHA-256 of their id are kept.

    A top-level module (``split_group``) is a test module when the SHA-256 of its name
    falls in the lowest ``test_fraction`` of the range: a property of the name alone, so
    a module is in the same split in every slice and on every Python version. If that
    leaves a split empty (a short module list), the module first in SHA-256 order goes
    to test, or the last to train.
    """
    pairs: dict[str, tuple[str, Document]] = {}
    for record in sorted(records, key=lambda r: r["id"]):
        split = split_docstring(record["doc"])
        if split is not None:
            summary, text = split
            pairs[record["id"]] = (summary, Document(text=text, title=record["id"] + record.get("signature", "")))
    counts: dict[str, int] = {}
    for summary, _ in pairs.values():
        counts[_summary_key(summary)] = counts.get(_summary_key(summary), 0) + 1
    ids = sorted(d for d, (summary, _) in pairs.items() if counts[_summary_key(summary)] == 1)
    if max_docs is not None and len(ids) > max_docs:
        ids = sorted(sorted(ids, key=_digest)[:max_docs])
    if not ids:
        raise InputError("no documented module, class or function to build a dataset from")

    groups = sorted({split_group(d) for d in ids}, key=_digest)
    if len(groups) < 2:
        raise InputError(f"the modules given form one group ({groups[0]}): a train/test split by module "
                         f"needs at least two")
    test_groups = {g for g in groups if _in_test(g, test_fraction)}
    if not test_groups:  # a short module list can hash all one way: keep both splits non-empty
        test_groups = {groups[0]}
    elif len(test_groups) == len(groups):
        test_groups.discard(groups[-1])
    corpus = {d: pairs[d][1] for d in ids}
    queries = {QUERY_PREFIX + d: pairs[d][0] for d in ids}
    qrels: dict[str, Qrels] = {"train": {}, "test": {}}
    for doc_id in ids:
        qrels["test" if split_group(doc_id) in test_groups else "train"][QUERY_PREFIX + doc_id] = {doc_id: 1}
    modules = {"train": sorted(set(groups) - test_groups), "test": sorted(test_groups)}
    return Collection(corpus=corpus, queries=queries, qrels=qrels, modules=modules)


# -- scanning the interpreter --------------------------------------------------------------------

def scan_stdlib(modules: Sequence[str] | None = None, *, python: str | None = None,
                scratch_dir: str | os.PathLike | None = None) -> list[dict]:
    """The docstring records of the standard library (or of the named top-level modules), read in a
    child interpreter so that no module's import side effects reach this process.

    The child works in a temporary folder (under ``scratch_dir`` if given), removed afterwards.
    """
    script = Path(__file__).with_name("_stdlib_scan.py")
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="textmetric-scan-", dir=scratch_dir) as scratch:
        scratch = str(Path(scratch).resolve())  # the child runs in it: a relative path would not resolve
        out = Path(scratch) / "records.json"
        try:
            proc = subprocess.run([python or sys.executable, "-I", "-S", "-B", str(script), str(out)],
                                  input=json.dumps(None if modules is None else sorted(set(modules))),
                                  capture_output=True, text=True, cwd=scratch, timeout=SCAN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"scanning the standard library took more than {SCAN_TIMEOUT} s") from None
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"scanning the standard library failed (exit {proc.returncode}): {tail}")
        return json.loads(out.read_text(encoding="utf-8"))


def build_stdlib(modules: Sequence[str] | None = None, *, max_docs: int | None = MAX_DOCUMENTS,
                 scratch_dir: str | os.PathLike | None = None) -> Collection:
    """Build the stdlib collection now, uncached: every stdlib module, or only the named top-level ones."""
    return make_collection(scan_stdlib(modules, scratch_dir=scratch_dir), max_docs=max_docs)


# -- BEIR folders and the cache ------------------------------------------------------------------

def _jsonl(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _beir_files(collection: Collection) -> dict[str, str]:
    files = {
        "corpus.jsonl": _jsonl({"_id": d, "title": doc.title, "text": doc.text}
                               for d, doc in sorted(collection.corpus.items())),
        "queries.jsonl": _jsonl({"_id": q, "text": t} for q, t in sorted(collection.queries.items())),
    }
    for split, qrels in sorted(collection.qrels.items()):
        lines = [f"{q}\t{d}\t{g}\n" for q in sorted(qrels) for d, g in sorted(qrels[q].items())]
        files[f"qrels/{split}.tsv"] = "query-id\tcorpus-id\tscore\n" + "".join(lines)
    return files


def write_beir(collection: Collection, folder: str | os.PathLike, *, about: dict | None = None) -> Path:
    """Write the collection as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) plus a
    ``manifest.json`` (counts, each split's modules, each file's SHA-256), atomically: a complete new
    folder is swapped in. The bytes depend on the collection alone."""
    folder = Path(folder)
    files = _beir_files(collection)
    manifest = {
        "format": "textmetric-stdlib", "format_version": FORMAT_VERSION, **(about or {}),
        "documents": len(collection.corpus),
        "queries": {s: len(q) for s, q in sorted(collection.qrels.items())},
        "modules": {s: m for s, m in sorted(collection.modules.items())},
        "sha256": {name: _digest(text) for name, text in files.items()},
    }
    with atomic_folder(folder) as tmp:
        for name, text in {**files, "manifest.json": json.dumps(manifest, indent=2) + "\n"}.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
    return folder


def _read_beir(folder: Path) -> Collection | None:
    """The collection of a folder ``write_beir`` wrote, or None if it is missing or any file differs."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        for name, expected in manifest["sha256"].items():
            if _digest((folder / name).read_text(encoding="utf-8")) != expected:
                return None
        qrels = {s: load_qrels(folder / "qrels" / f"{s}.tsv") for s in manifest["queries"]}
        return Collection(corpus=load_corpus(folder / "corpus.jsonl"), queries=load_queries(folder / "queries.jsonl"),
                          qrels=qrels, modules={s: list(m) for s, m in manifest["modules"].items()})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where built datasets are kept: ``cache_dir``, else ``$TEXTMETRIC_CACHE``, else
    ``$XDG_CACHE_HOME/textmetric`` (``~/.cache/textmetric``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("TEXTMETRIC_CACHE"):
        return Path(os.environ["TEXTMETRIC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "textmetric"


def _settings(modules: Sequence[str] | None, max_docs: int | None) -> dict:
    return {"python": sys.version, "platform": sys.platform,
            "modules": None if modules is None else sorted(set(modules)), "max_docs": max_docs}


def cache_folder(modules: Sequence[str] | None = None, max_docs: int | None = MAX_DOCUMENTS,
                 cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder of one build: ``stdlib-py<version>-<hash of the Python build and the settings>``."""
    key = _digest(json.dumps({"format_version": FORMAT_VERSION, **_settings(modules, max_docs)}))[:16]
    version = ".".join(map(str, sys.version_info[:3]))
    return cache_root(cache_dir) / f"stdlib-py{version}-{key}"


def stdlib_collection(modules: Sequence[str] | None = None, *, max_docs: int | None = MAX_DOCUMENTS,
                      cache_dir: str | os.PathLike | None = None, rebuild: bool = False) -> Collection:
    """The stdlib collection, from the cache when a complete, unaltered copy is there, else built and cached."""
    folder = cache_folder(modules, max_docs, cache_dir)
    if not rebuild:
        cached = _read_beir(folder) if folder.exists() else None
        if cached is not None:
            return cached
        if folder.exists():
            warn(f"the cached dataset at {folder} is incomplete or altered: building it again")
    start = time.perf_counter()
    try:
        cache_root(cache_dir).mkdir(parents=True, exist_ok=True)
        scratch: Path | None = cache_root(cache_dir)
    except OSError:
        scratch = None
    collection = build_stdlib(modules, max_docs=max_docs, scratch_dir=scratch)
    try:
        write_beir(collection, folder, about=_settings(modules, max_docs))
    except OSError as e:  # a read-only home still gets its dataset, just not cached
        warn(f"cannot cache the dataset at {folder} ({e.strerror or e}); it will be built again next time")
    collection.build_seconds = time.perf_counter() - start
    return collection


def stdlib(split: str = "test", *, modules: Sequence[str] | None = None, max_docs: int | None = MAX_DOCUMENTS,
           cache_dir: str | os.PathLike | None = None) -> RetrievalData:
    """The stdlib dataset's ``train`` or ``test`` split: every document, that split's queries and qrels."""
    if split not in SPLITS:
        raise InputError(f"no split '{split}' (splits: {', '.join(SPLITS)})")
    return stdlib_collection(modules, max_docs=max_docs, cache_dir=cache_dir).split(split)


def export_stdlib(folder: str | os.PathLike, *, modules: Sequence[str] | None = None,
                  max_docs: int | None = MAX_DOCUMENTS, cache_dir: str | os.PathLike | None = None,
                  overwrite: bool = False) -> Collection:
    """Write the stdlib dataset to ``folder`` as a BEIR folder that ``load_beir`` reads (both splits)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("is a file: expected a folder to write the dataset into", folder)
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise InputError("already exists and is not empty: choose another folder (or overwrite it)", folder)
    check_output_folder(folder)  # before the dataset is built
    collection = stdlib_collection(modules, max_docs=max_docs, cache_dir=cache_dir)
    write_beir(collection, folder, about=_settings(modules, max_docs))
    return collection
