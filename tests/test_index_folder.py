"""The index folder as a file-system object: any path, symlinks, permissions, leftovers, the user's own files,
things that are not regular files, and a manifest that must agree with its checksum and with the files."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from conftest import rewrite_manifest
from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import FORMAT_VERSION, Index
from textmetric.index.building import build_index, check_model
from textmetric.index.lexical import LexicalSettings


def saved_index(path, n=5, lexical=False):
    index = Index(8)
    index.add([f"d{i}" for i in range(n)], np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32),
              [Document(f"text of document {i}") for i in range(n)])
    if lexical:
        index.enable_lexical(LexicalSettings())
    index.save(path)
    return path


def contents(folder):
    """Every file under ``folder`` with its bytes (to show that a refused command changed nothing)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- paths -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a#b", "what?", "100%", "with space", "%20 #x ?y=1"])
def test_an_index_at_a_path_with_uri_characters_loads_and_leaves_nothing_in_the_working_directory(
        tmp_path, monkeypatch, name):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    saved_index(name)
    loaded = Index.load(name)
    assert len(loaded) == 5 and loaded.document("d3").text == "text of document 3"
    assert os.listdir(workdir) == [name]


def test_without_sqlite_deserialize_an_index_at_such_a_path_loads_too(tmp_path, monkeypatch):
    import textmetric.index.docstore as docstore

    monkeypatch.setattr(docstore, "_DESERIALIZE", False)  # as on Python 3.10
    saved_index(tmp_path / "a#b?c%d e")
    assert Index.load(tmp_path / "a#b?c%d e").document("d3").text == "text of document 3"


def test_the_cli_builds_and_searches_an_index_at_a_path_with_uri_characters(cli, beir_dir, tiny_model_path,
                                                                            tmp_path):
    out = tmp_path / "my #1 index? 100%"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", tiny_model_path, "-q")
    assert code == 0, err
    code, printed, err = cli("search", "--index", out, "--mode", "dense", "bread", "--json", "-k", "2")
    assert code == 0, err
    assert len(json.loads(printed)["hits"]) == 2


# -- symlinks ----------------------------------------------------------------------------------------

def test_a_change_through_a_symlinked_index_is_made_where_the_link_points(cli, tmp_path):
    target = saved_index(tmp_path / "target")
    (tmp_path / "link").symlink_to("target")
    code, _, err = cli("delete", "--index", tmp_path / "link", "--ids", "d1")
    assert code == 0, err
    assert (tmp_path / "link").is_symlink() and os.readlink(tmp_path / "link") == "target"
    assert "d1" not in Index.load(target) and "d1" not in Index.load(tmp_path / "link")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


# -- permissions -------------------------------------------------------------------------------------

def test_rewriting_an_index_keeps_the_modes_of_its_folder_and_files(cli, tmp_path):
    target = saved_index(tmp_path / "idx")
    target.chmod(0o700)
    for path in target.iterdir():
        path.chmod(0o600)
    code, _, err = cli("delete", "--index", target, "--ids", "d1")
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in target.iterdir()} == {
        "manifest.json": 0o600, "hnsw.bin": 0o600, "docs.sqlite": 0o600}


def test_files_a_rewrite_adds_get_no_more_access_than_the_folder_grants(cli, tmp_path):
    target = saved_index(tmp_path / "idx")
    target.chmod(0o700)
    code, _, err = cli("index-lexical", "--index", target)
    assert code == 0, err
    lexical = target / "lexical"
    assert stat.S_IMODE(lexical.stat().st_mode) & 0o077 == 0
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in lexical.iterdir())


# -- what writers leave, and what is the user's ------------------------------------------------------

KILLED_BEFORE_SWAP = """
    import sys, time
    import textmetric.atomic as atomic
    from textmetric.index import Index

    def pause(new, target):
        print("paused", flush=True)
        time.sleep(60)

    atomic.replace_folder = pause
    index = Index.load(sys.argv[1])
    index.delete(["d1"])
    index.save(sys.argv[1])
"""


def test_the_next_writer_removes_the_temporary_folder_of_a_killed_one(tmp_path):
    target = saved_index(tmp_path / "idx")
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(KILLED_BEFORE_SWAP), str(target)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "paused"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".idx.tmp-")]  # what the kill left
    index = Index.load(target)
    index.delete(["d2"])
    index.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_tidying_leftovers_spares_other_indexes_and_the_resumable_build_folder(tmp_path):
    target = saved_index(tmp_path / "idx")
    for name in (".idx.tmp-abc123", ".idx.old", ".idx.build", ".idx2.tmp-abc123", ".other.tmp-x"):
        (tmp_path / name).mkdir()
    Index.load(target).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".idx.build", ".idx2.tmp-abc123", ".other.tmp-x", "idx"]


def test_the_users_own_files_in_an_index_folder_survive_a_rewrite(cli, tmp_path):
    target = saved_index(tmp_path / "idx")
    (target / "NOTES.md").write_text("built from the March crawl")
    (target / "extra").mkdir()
    (target / "extra" / "queries.txt").write_text("q1\n")
    code, _, err = cli("delete", "--index", target, "--ids", "d1")
    assert code == 0, err
    assert (target / "NOTES.md").read_text() == "built from the March crawl"
    assert (target / "extra" / "queries.txt").read_text() == "q1\n"
    assert len(Index.load(target)) == 4


# -- only regular files ------------------------------------------------------------------------------

def load_within(seconds, path):
    """Index.load(path) in a thread: the exception it raised, failing if it still runs after ``seconds``."""
    outcome = []

    def load():
        try:
            Index.load(path)
            outcome.append(None)
        except Exception as e:  # reported below
            outcome.append(e)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"loading {path} still hangs after {seconds} s"
    return outcome[0]


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("name", ["manifest.json", "hnsw.bin", "docs.sqlite", "lexical/ids.json"])
def test_something_other_than_a_regular_file_in_place_of_an_index_file_is_refused_at_once(tmp_path, name, kind):
    target = saved_index(tmp_path / "idx", lexical=True)
    (target / name).unlink()
    if kind == "fifo":
        os.mkfifo(target / name)
    else:
        (target / name).mkdir()
    error = load_within(10, target)
    assert isinstance(error, InputError) and f"{name} is not a regular file" in str(error)


def test_the_cli_refuses_a_fifo_in_an_index_with_one_line(cli, tmp_path):
    target = saved_index(tmp_path / "idx")
    (target / "docs.sqlite").unlink()
    os.mkfifo(target / "docs.sqlite")
    code, _, err = cli("compact", "--index", target)
    assert code == 2 and "docs.sqlite is not a regular file" in err and err.count("\n") == 1


# -- the manifest: its checksum and its fields -------------------------------------------------------

def test_a_new_index_is_written_in_the_current_format_with_its_manifest_checksum(tmp_path):
    manifest = json.loads((saved_index(tmp_path / "idx") / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert len(manifest["checksum"]["sha256"]) == 64


def test_a_format_1_manifest_has_no_checksum_and_is_read_as_before(tmp_path):
    target = saved_index(tmp_path / "idx")
    rewrite_manifest(target, lambda manifest: None, version=1)
    assert "checksum" not in json.loads((target / "manifest.json").read_text())
    assert len(Index.load(target)) == 5


# (what to change, the error once the checksum is made to match the change)
TAMPERED = {
    "dim 383": (lambda m: m.update(dim=383), "hnsw.bin has dimension 8 but manifest.json says 383"),
    "dim 100000": (lambda m: m.update(dim=100000), "hnsw.bin has dimension 8 but manifest.json says 100000"),
    "dim 0": (lambda m: m.update(dim=0), "'dim' is 0, below 1"),
    "dim as text": (lambda m: m.update(dim="8"), "malformed 'dim'"),
    "dim true": (lambda m: m.update(dim=True), "malformed 'dim'"),
    "count": (lambda m: m.update(count=4), "docs.sqlite holds 5 documents but manifest.json says 4"),
    "count negative": (lambda m: m.update(count=-1), "'count' is -1, below 0"),
    "elements": (lambda m: m["hnsw"].update(elements=6, next_label=6), "holds 5 vectors but manifest.json says 6"),
    "next_label below count": (lambda m: m["hnsw"].update(next_label=2), "'hnsw.next_label' is 2, below"),
    "next_label below elements": (lambda m: m.update(count=2) or m["hnsw"].update(next_label=4),
                                  "labels end before 4 but hnsw.bin holds 5 vectors"),
    "M": (lambda m: m["hnsw"].update(M=3), "hnsw.bin has M 16 but manifest.json says 3"),
    "ef_construction": (lambda m: m["hnsw"].update(ef_construction=7), "has ef_construction 200 but"),
    "ef 0": (lambda m: m["hnsw"].update(ef=0), "'hnsw.ef' is 0, below 1"),
    "seed": (lambda m: m["hnsw"].update(seed=None), "malformed 'hnsw.seed'"),
    "space l2": (lambda m: m.update(space="l2"), "'normalized' is True but space 'l2' does not normalise"),
    "space unknown": (lambda m: m.update(space="hamming"), "unknown space 'hamming'"),
    "files missing": (lambda m: m["files"].pop("docs.sqlite"), "'files' must list exactly hnsw.bin and docs.sqlite"),
    "files outside": (lambda m: m["files"].update({"../x": m["files"].pop("docs.sqlite")}), "must list exactly"),
    "file digest": (lambda m: m["files"]["hnsw.bin"].update(sha256="0" * 64), "hnsw.bin does not match its checksum"),
    "lexical outside": (lambda m: m["lexical"]["files"].update({"lexical/../../x": {"bytes": 1, "sha256": "0" * 64}}),
                        "malformed 'lexical.files'"),
    "model dim": (lambda m: m.update(model={"name": "x", "weights_sha256": "a" * 64, "dim": 9}),
                  "'model.dim' is 9 but 'dim' is 8"),
    "shard": (lambda m: m.update(shard={"index": 5, "count": 2}), "'shard.index' is 5, not below"),
}


def tamper(target, change):
    """Edit the manifest by hand, leaving its checksum as it was."""
    path = target / "manifest.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("case", TAMPERED)
def test_a_manifest_field_edited_by_hand_fails_the_manifest_checksum(tmp_path, case):
    target = saved_index(tmp_path / "idx", lexical=True)
    tamper(target, TAMPERED[case][0])
    with pytest.raises(InputError, match="manifest.json does not match its own checksum"):
        Index.load(target)


@pytest.mark.parametrize("case", TAMPERED)
def test_a_manifest_field_edited_and_re_signed_is_refused_by_the_field_check(tmp_path, case):
    target = saved_index(tmp_path / "idx", lexical=True)
    change, message = TAMPERED[case]
    rewrite_manifest(target, change)
    with pytest.raises(InputError) as refused:
        Index.load(target)
    assert message in str(refused.value)


@pytest.mark.parametrize("case", ["dim 383", "dim 100000", "count", "M", "space l2", "files outside"])
@pytest.mark.parametrize("command", ["delete", "compact"])
def test_commands_refuse_a_tampered_index_and_leave_the_folder_as_it_was(cli, tmp_path, case, command):
    for re_signed in (False, True):
        target = saved_index(tmp_path / f"idx-{re_signed}", lexical=True)
        (rewrite_manifest if re_signed else tamper)(target, TAMPERED[case][0])
        before = contents(target)
        code, _, err = cli(command, "--index", target, *(["--ids", "d1"] if command == "delete" else []))
        assert code == 2 and err.count("\n") == 1, err
        assert contents(target) == before


def test_a_manifest_without_its_checksum_is_refused(tmp_path):
    target = saved_index(tmp_path / "idx")
    tamper(target, lambda m: m.pop("checksum"))
    with pytest.raises(InputError, match="does not match its own checksum"):
        Index.load(target)


def test_a_format_1_manifest_is_checked_against_the_files_too(tmp_path):
    target = saved_index(tmp_path / "idx")
    rewrite_manifest(target, lambda m: m.update(dim=383), version=1)
    with pytest.raises(InputError, match="hnsw.bin has dimension 8 but manifest.json says 383"):
        Index.load(target)


@pytest.mark.parametrize("version", [1, 2])
def test_a_model_recorded_without_its_weights_fingerprint_is_refused_like_another_model(tiny_model, tmp_path,
                                                                                       version):
    target = tmp_path / "idx"
    build_index(tiny_model, {"d1": Document("some text"), "d2": Document("more text")}, target)
    rewrite_manifest(target, lambda m: m["model"].pop("weights_sha256"), version=version)
    with pytest.raises(InputError, match="without the fingerprint of its weights"):
        check_model(Index.load(target), tiny_model)


def test_a_refused_load_leaves_a_tampered_folder_untouched_for_inspection(tmp_path):
    target = saved_index(tmp_path / "idx")
    tamper(target, lambda m: m.update(dim=383))
    before = contents(target)
    with pytest.raises(InputError):
        Index.load(target)
    assert contents(target) == before and sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_an_index_folder_that_vanishes_mid_swap_is_read_from_the_old_folder(tmp_path):
    target = saved_index(tmp_path / "idx")
    os.rename(target, tmp_path / ".idx.old")  # a two-rename swap, between its renames
    assert len(Index.load(target)) == 5
    shutil.rmtree(tmp_path / ".idx.old")
    with pytest.raises(InputError, match="no such index folder"):
        Index.load(target)


def test_loading_a_fifo_as_the_index_folder_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "idx")
    start = time.monotonic()
    error = load_within(10, tmp_path / "idx")
    assert isinstance(error, InputError) and "expected an index folder" in str(error)
    assert time.monotonic() - start < 10
