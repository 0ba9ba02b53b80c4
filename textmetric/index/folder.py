"""The index folder on disk: its manifest, the files' checksums, the format version, generations, the writer lock.

::

    my-index/
      manifest.json   format version, model identity, dim, space, count, HNSW parameters, file checksums,
                      and (format 2) the manifest's own checksum
      hnsw.bin        the hnswlib graph
      docs.sqlite     label <-> doc id <-> title and text
      lexical/        optional: the BM25 side (see ``lexical.py``), rebuilt from the live documents

Every field of ``manifest.json`` is written and read here (:class:`Manifest`); the
parts write and read their own files. A save writes a complete new folder beside the
target and swaps it into place (:func:`textmetric.atomic.atomic_folder`), so a crash at
any moment leaves the previous index or the new one, never a mix. Each saved folder is
one *generation*, named by a hash of its manifest. Writers hold :func:`write_lock`
from reading the old generation to the swap; a reader pins one generation
(:class:`PinnedFolder`: every file opened through one directory descriptor before
any is read) and starts again if a writer swapped it away meanwhile. No pickle anywhere.

Format versions: 1 has no manifest checksum and is read as before; 2 (written now)
adds ``checksum`` (SHA-256 of the canonical JSON of every other field), and a
version-2 manifest without a matching one is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

from ..atomic import check_output_folder, old_folder, recover_interrupted_replace, remove_leftovers
from ..errors import InputError
from .lexical import LexicalSettings
from ..encoding import ROLES
from .locking import DEFAULT_LOCK_TIMEOUT, folder_lock
from .vectors import HNSW_SEED, SPACES

__all__ = ["Manifest", "read_manifest", "parse_manifest", "manifest_checksum", "generation_of", "PinnedFolder",
           "read_generation", "folder_generation",
           "write_lock", "index_target", "check_replaceable", "write_manifest", "index_exists", "file_digest",
           "FORMAT", "FORMAT_VERSION", "READS_VERSIONS", "MANIFEST", "GRAPH", "DOCS", "LEXICAL", "INDEX_ENTRIES",
           "COLLECTION"]

FORMAT = "textmetric-index"
FORMAT_VERSION = 2
READS_VERSIONS = (1, 2)
MANIFEST, GRAPH, DOCS, LEXICAL = "manifest.json", "hnsw.bin", "docs.sqlite", "lexical"
COLLECTION = "collection.json"  # marks a folder of shards (see collection.py)
INDEX_ENTRIES = (MANIFEST, GRAPH, DOCS, LEXICAL)  # what an index folder holds; anything else is the user's
_SHA256 = re.compile(r"[0-9a-f]{64}")
_READ_ATTEMPTS = 50  # generations a reader may see swapped away under it before it gives up

T = TypeVar("T")


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` records: the index's shape, its HNSW parameters, its model, its files."""

    dim: int
    space: str
    count: int                      # live documents
    m: int
    ef_construction: int
    ef: int
    elements: int                   # vectors in the graph, deleted ones included
    next_label: int
    seed: int = HNSW_SEED
    model: dict | None = None       # the model's identity (name, weights hash, ...), as building records it
    shard: tuple[int, int] | None = None           # (i, N): this index holds shard i of N
    lexical: LexicalSettings | None = None         # the BM25 side's settings, None without one
    files: dict = field(default_factory=dict)      # name -> {"bytes", "sha256"}: the graph and the documents
    lexical_files: dict = field(default_factory=dict)  # the same for the files under lexical/

    def to_dict(self) -> dict:
        """The JSON record; without ``files`` and ``saved_at`` until :func:`write_manifest` adds them."""
        record = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model": self.model, "dim": self.dim,
            "space": self.space, "normalized": self.space == "cosine", "count": self.count,
            "hnsw": {"M": self.m, "ef_construction": self.ef_construction, "ef": self.ef,
                     "elements": self.elements, "next_label": self.next_label, "seed": self.seed},
        }
        if self.shard is not None:
            record["shard"] = {"index": self.shard[0], "count": self.shard[1]}
        if self.lexical is not None:
            record["lexical"] = {"library": "bm25s", "settings": self.lexical.to_dict()}
            if self.lexical_files:
                record["lexical"].update(count=self.count, files=self.lexical_files)
        if self.files:
            record["files"] = self.files
        return record

    @classmethod
    def from_dict(cls, record: object, source: Path) -> "Manifest":
        """A manifest read back, every field checked for type and range; a clear error naming ``source``
        for anything that is not one. (Whether it agrees with the files is checked as they are read.)"""
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise InputError("not a textmetric index manifest", source)
        version = record.get("format_version")
        if version not in READS_VERSIONS:
            raise InputError(f"index format version {version} is not supported by this textmetric "
                             f"(it reads versions {', '.join(map(str, READS_VERSIONS))})", source)
        for key, kind in {"space": str, "hnsw": dict, "files": dict}.items():
            if not isinstance(record.get(key), kind):
                raise InputError(f"missing or malformed '{key}'", source)
        hnsw = record["hnsw"]
        dim, count = _whole(record, "dim", source, 1), _whole(record, "count", source, 0)
        m, ef_construction, ef = (_whole(hnsw, key, source, 1, "hnsw.") for key in ("M", "ef_construction", "ef"))
        elements = _whole(hnsw, "elements", source, count, "hnsw.", "the live 'count'")
        next_label = _whole(hnsw, "next_label", source, count, "hnsw.", "the live 'count'")
        seed = _whole(hnsw, "seed", source, 0, "hnsw.") if "seed" in hnsw else HNSW_SEED
        if record["space"] not in SPACES:
            raise InputError(f"unknown space '{record['space']}' (expected one of {', '.join(SPACES)})", source)
        if "normalized" in record and record["normalized"] != (record["space"] == "cosine"):
            raise InputError(f"'normalized' is {record['normalized']} but space '{record['space']}' "
                             f"{'normalises' if record['space'] == 'cosine' else 'does not normalise'}", source)
        files = _file_records(record["files"], source, "files")
        if set(files) != {GRAPH, DOCS}:
            raise InputError(f"'files' must list exactly {GRAPH} and {DOCS}", source)
        lexical = record.get("lexical")
        if lexical is not None:
            if not isinstance(lexical, dict) or not isinstance(lexical.get("files"), dict) or not all(
                    isinstance(name, str) and re.fullmatch(rf"{LEXICAL}/[\w.-]+", name) for name in lexical["files"]):
                raise InputError("missing or malformed 'lexical.files'", source)
            _file_records(lexical["files"], source, "lexical.files")
        model = _model_record(record.get("model"), dim, source)
        return cls(
            dim=dim, space=record["space"], count=count, m=m, ef_construction=ef_construction, ef=ef,
            elements=elements, next_label=next_label, seed=seed, model=model, shard=_shard(record.get("shard"), source),
            lexical=None if lexical is None else LexicalSettings.from_dict(lexical.get("settings"), source),
            files=files, lexical_files={} if lexical is None else lexical["files"])


def _whole(record: dict, key: str, source: Path, least: int, prefix: str = "", least_name: str | None = None) -> int:
    """``record[key]`` as a whole number of at least ``least`` (JSON's true and false are not numbers)."""
    value = record.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"missing or malformed '{prefix}{key}'", source)
    if value < least:
        raise InputError(f"'{prefix}{key}' is {value}, below {least_name or least}", source)
    return value


def _file_records(files: dict, source: Path, where: str) -> dict:
    """``files`` checked to map names to ``{"bytes": n, "sha256": hex}``."""
    for name, digest in files.items():
        if not (isinstance(digest, dict) and isinstance(digest.get("bytes"), int) and digest["bytes"] >= 0
                and isinstance(digest.get("sha256"), str) and _SHA256.fullmatch(digest["sha256"])):
            raise InputError(f"malformed '{where}' entry for {name}", source)
    return files


def _model_record(model: object, dim: int, source: Path) -> dict | None:
    """The recorded model identity, checked: its weights fingerprint a string, its dimension the index's."""
    if model is None:
        return None
    if not isinstance(model, dict):
        raise InputError("malformed 'model'", source)
    sha = model.get("weights_sha256")
    if sha is not None and not (isinstance(sha, str) and sha):
        raise InputError("malformed 'model.weights_sha256'", source)
    if "dim" in model and model["dim"] != dim:
        raise InputError(f"'model.dim' is {model['dim']} but 'dim' is {dim}", source)
    prompts = model.get("prompts")  # absent from an index older than them: none were applied
    if prompts is not None and not (isinstance(prompts, dict) and all(isinstance(prompts.get(r), str)
                                                                       for r in ROLES)):
        raise InputError("malformed 'model.prompts' (expected the query and document prompts)", source)
    return model


def _shard(shard: object, source: Path) -> tuple[int, int] | None:
    if shard is None:
        return None
    if not isinstance(shard, dict):
        raise InputError("malformed 'shard'", source)
    count = _whole(shard, "count", source, 1, "shard.")
    i = _whole(shard, "index", source, 0, "shard.")
    if i >= count:
        raise InputError(f"'shard.index' is {i}, not below 'shard.count' {count}", source)
    return i, count


def _canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def manifest_checksum(record: dict) -> str:
    """What a format-2 manifest's ``checksum.sha256`` must be: the SHA-256 of the canonical JSON (sorted keys,
    no spaces, UTF-8) of every field but ``checksum`` itself."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "checksum"})).hexdigest()


def generation_of(manifest_bytes: bytes) -> str:
    """The name of a generation of an index folder: a hash of its manifest, which records every file's checksum."""
    return hashlib.sha256(manifest_bytes).hexdigest()[:16]


def parse_manifest(data: bytes, source: Path) -> Manifest:
    """The manifest in the bytes of ``manifest.json`` (read from ``source``), its checksum and fields checked."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable manifest: {e}", source) from None
    if isinstance(record, dict) and record.get("format") == FORMAT and record.get("format_version") == 2:
        checksum = record.get("checksum")
        if not isinstance(checksum, dict) or checksum.get("sha256") != manifest_checksum(record):
            raise InputError(f"{MANIFEST} does not match its own checksum: it was edited or is corrupt "
                             f"(rebuild the index, or restore the folder from a copy)", source)
    return Manifest.from_dict(record, source)


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The manifest of an index folder, validated; a clear error for anything that is not one."""
    with PinnedFolder(Path(path)) as folder:
        return folder.manifest


def index_exists(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a readable index manifest."""
    try:
        read_manifest(path)
    except InputError:
        return False
    return True


def folder_generation(path: str | os.PathLike) -> str | None:
    """The generation of the index folder at ``path`` now (see :func:`generation_of`), or None if it has no
    readable manifest: one small read, cheap enough to ask before every request."""
    try:
        with PinnedFolder(Path(path)) as folder:
            return generation_of(folder.read_bytes(MANIFEST))
    except (InputError, OSError):
        return None


class PinnedFolder:
    """One generation of an index folder, held open: a directory descriptor, and through it every file.

    A writer swaps a new folder in and removes the old one, but a file opened before the swap still
    reads the old generation whole. :meth:`verify` reads and checks the manifest, then opens every file it
    lists and checks each against its checksum; :meth:`file` names an opened file for a library that wants a
    path (``/proc/self/fd/N`` on Linux, so it reads the very same file). Where no such path exists, files are
    read by name and :func:`read_generation` checks afterwards that no swap happened. Only regular files are
    read: a FIFO or a folder where a file should be is refused, never waited on.
    """

    _PROC = Path("/proc/self/fd")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fds: dict[str, int] = {}
        self._manifest: Manifest | None = None
        self.generation: str | None = None
        self._dir = self._open_dir(path)
        self.pinned = self._PROC.is_dir()

    def _open_dir(self, path: Path) -> int:
        for candidate in (path, old_folder(Path(os.path.realpath(path)))):  # mid two-rename swap: the old folder
            try:
                return os.open(candidate, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue
            except NotADirectoryError:
                raise InputError("expected an index folder, got a file", path) from None
            except OSError as e:
                raise InputError(f"cannot open the index folder: {e.strerror}", path) from None
        raise InputError("no such index folder", path)

    def __enter__(self) -> "PinnedFolder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in [*self._fds.values(), self._dir]:
            os.close(fd)
        self._fds.clear()
        self._dir = -1

    def replaced(self) -> bool:
        """Whether ``path`` no longer names the folder pinned here (a writer swapped a new generation in)."""
        try:
            return not os.path.samestat(os.stat(self.path), os.fstat(self._dir))
        except OSError:
            return True

    def _open(self, name: str) -> int:
        """A descriptor of the regular file ``name`` in the pinned folder (opened once)."""
        if name not in self._fds:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK, dir_fd=self._dir)  # a FIFO must not block the open
            except FileNotFoundError:
                if name == MANIFEST:
                    raise InputError(f"not a textmetric index (no {MANIFEST})", self.path) from None
                raise InputError(f"missing {name}: the index is incomplete", self.path) from None
            except OSError as e:
                raise InputError(f"cannot open {name}: {e.strerror}", self.path) from None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise InputError(f"{name} is not a regular file: refusing to read it", self.path)
            os.set_blocking(fd, True)
            self._fds[name] = fd
        return self._fds[name]

    def read_bytes(self, name: str) -> bytes:
        """The whole content of the file ``name``."""
        fd = self._open(name)
        size = os.fstat(fd).st_size
        chunks, offset = [], 0
        while True:
            chunk = os.pread(fd, max(size - offset, 1 << 16), offset)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            offset += len(chunk)

    @property
    def manifest(self) -> Manifest:
        """The folder's manifest, checked (but not yet against the files: see :meth:`verify`)."""
        if self._manifest is None:
            data = self.read_bytes(MANIFEST)
            self._manifest = parse_manifest(data, self.path / MANIFEST)
            self.generation = generation_of(data)
        return self._manifest

    def verify(self, keep: Sequence[str] = ()) -> dict[str, bytes]:
        """Open every file the manifest lists and check it against its size and checksum; returns the bytes of
        the files named in ``keep`` (read once, for the check and for their reader)."""
        manifest = self.manifest
        kept = {}
        for name in [*manifest.files, *manifest.lexical_files]:  # open them all before reading any
            self._open(name)
        for name, expected in {**manifest.files, **manifest.lexical_files}.items():
            if name in keep:
                kept[name] = data = self.read_bytes(name)
                digest = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            else:
                digest = _fd_digest(self._fds[name])
            if digest != expected:
                raise InputError(f"{name} does not match its checksum in {MANIFEST}: the file is corrupt "
                                 f"or was changed outside textmetric", self.path)
        return kept

    def file(self, name: str) -> Path:
        """A path that reads the file ``name`` of this generation."""
        fd = self._open(name)
        return self._PROC / str(fd) if self.pinned else self.path / name

    def folder(self, name: str) -> Path:
        """A path to the subfolder ``name`` of this generation."""
        return self._PROC / str(self._dir) / name if self.pinned else self.path / name


def read_generation(path: str | os.PathLike, read: Callable[[PinnedFolder], T]) -> T:
    """``read`` applied to one whole generation of the index folder at ``path``: should a writer swap a new
    generation in while ``read`` runs, it runs again on that one, so a reader never mixes two."""
    path = Path(path)
    for attempt in range(1, _READ_ATTEMPTS + 1):
        with PinnedFolder(path) as folder:
            try:
                result = read(folder)
            except (InputError, OSError):
                if attempt < _READ_ATTEMPTS and folder.replaced():
                    continue
                raise
            if folder.pinned or not folder.replaced():
                return result
    raise InputError(f"writers replaced the index {_READ_ATTEMPTS} times while it was being read: try again",
                     path)


def _fd_digest(fd: int) -> dict:
    digest, offset = hashlib.sha256(), 0
    while block := os.pread(fd, 1 << 20, offset):
        digest.update(block)
        offset += len(block)
    return {"bytes": offset, "sha256": digest.hexdigest()}


def index_target(path: str | os.PathLike) -> Path:
    """The folder a write to ``path`` replaces: a symlinked index is written where the link points, and
    the link stays a link."""
    return Path(os.path.realpath(path))


@contextlib.contextmanager
def write_lock(path: str | os.PathLike, lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> Iterator[Path]:
    """Hold the writer lock of the index folder at ``path`` for the block, which gets the folder to write
    (:func:`index_target`). Hold it from loading an index to saving it, so no other writer's work is lost
    in between; first it puts back an interrupted swap and removes what killed writers left.

    Other writers wait (saying so) or, after ``lock_timeout`` seconds, get a
    :class:`~textmetric.index.locking.LockTimeout`. A thread holding the lock may take it again.
    """
    target = index_target(path)
    with folder_lock(target, lock_timeout):
        recover_interrupted_replace(target)
        remove_leftovers(target)
        yield target


def check_replaceable(path: Path) -> None:
    """Refuse to save over something that is not an index folder, or where no new folder can be swapped in (the
    current folder, a path under a file): checked before the work of a build, and again when it saves."""
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a folder: refusing to replace it", path)
    if (path.is_dir() and not (path / MANIFEST).exists() and not (path / COLLECTION).exists()
            and any(path.iterdir())):
        raise InputError("exists and is not a textmetric index: refusing to replace it", path)
    check_output_folder(path)


def write_manifest(folder: Path, manifest: Manifest, lexical_files: Sequence[str] = ()) -> str:
    """Write ``manifest.json`` into a folder that holds the graph, the documents and ``lexical_files``
    (paths under ``folder``): the manifest with every file's size and checksum, the time and its own
    checksum. Returns the generation it names."""
    files = {name: file_digest(folder / name) for name in (GRAPH, DOCS)}
    lexical = {name: file_digest(folder / name) for name in lexical_files}
    record = replace(manifest, files=files, lexical_files=lexical).to_dict()
    record["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record["checksum"] = {"sha256": manifest_checksum(record)}
    data = (json.dumps(record, indent=2) + "\n").encode("utf-8")
    (folder / MANIFEST).write_bytes(data)
    return generation_of(data)


def file_digest(path: Path) -> dict:
    """A file's size and SHA-256, as the manifest records them."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
