"""Many processes and threads on one index: writers never lose each other's work, a change is never
starved by searches, and a reader always sees one whole generation of the folder."""

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from conftest import write_jsonl
from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import Index
from textmetric.index.folder import write_lock
from textmetric.index.lexical import LexicalSettings
from textmetric.index.locking import LockTimeout, ReadWriteLock, lock_path


def vectors(n, seed=0, dim=8):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def saved_index(path, n=5, lexical=False):
    index = Index(8)
    index.add([f"d{i}" for i in range(n)], vectors(n), [Document(f"text of document {i}") for i in range(n)])
    if lexical:
        index.enable_lexical(LexicalSettings())
    index.save(path)
    return path


def run_script(script, *args):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- writers in several processes ----------------------------------------------------------------

ADDER = """
    import sys, numpy as np
    from textmetric.data import Document
    from textmetric.index import Index
    from textmetric.index.folder import write_lock
    target, tag, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(len(tag))
    for r in range(rounds):
        with write_lock(target):
            index = Index.load(target)
            ids = [f"{tag}-{r}-{i}" for i in range(3)]
            index.add(ids, rng.normal(size=(3, 8)).astype(np.float32), [Document(f"text {d}") for d in ids])
            index.save(target)
"""


def test_processes_adding_disjoint_documents_at_once_lose_none(tmp_path):
    target = saved_index(tmp_path / "idx")
    writers = [run_script(ADDER, target, f"w{n}", 5) for n in range(4)]
    for proc in writers:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    index = Index.load(target)
    assert len(index) == 5 + 4 * 5 * 3
    assert {f"w{n}-{r}-{i}" for n in range(4) for r in range(5) for i in range(3)} <= set(index.ids)


def test_cli_adds_run_at_once_all_exit_0_and_keep_every_document(cli, beir_dir, tiny_model_path, tmp_path):
    out = tmp_path / "idx"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", tiny_model_path, "-q")
    assert code == 0, err
    corpora = [write_jsonl(tmp_path / f"new{n}.jsonl", [{"_id": f"p{n}-{i}", "text": f"new text {n} {i}"}
                                                       for i in range(2)]) for n in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "textmetric", "add", "--index", str(out), "--corpus",
                               str(corpus), "--model", str(tiny_model_path)], stderr=subprocess.PIPE, text=True)
             for corpus in corpora]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert set(Index.load(out).ids) == {"d1", "d2", "d3", "d4", "d5"} | {f"p{n}-{i}" for n in range(3)
                                                                         for i in range(2)}


def test_two_builds_of_one_output_at_once_both_finish(tiny_model_path, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": f"d{i}", "text": f"text number {i} " * 5}
                                                     for i in range(200)])
    out = tmp_path / "idx"
    command = [sys.executable, "-m", "textmetric", "index", "--corpus", str(corpus), "--output", str(out),
               "--model", str(tiny_model_path), "--chunk-size", "20", "--overwrite"]
    procs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert len(Index.load(out)) == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl", "idx"]  # no .idx.build, no .idx.lock


@pytest.fixture
def lock_held_elsewhere():
    """Hold an index's writer lock in another thread (a writer the command under test must wait for)
    until ``release`` is set."""
    threads = []

    def hold(path):
        taken, release = threading.Event(), threading.Event()

        def holder():
            with write_lock(path):
                taken.set()
                release.wait(60)

        thread = threading.Thread(target=holder, daemon=True)
        thread.start()
        assert taken.wait(10)
        threads.append((thread, release))
        return release

    yield hold
    for thread, release in threads:
        release.set()
        thread.join(10)


def test_a_second_writer_waits_saying_so_and_then_applies_its_change(cli, tmp_path, lock_held_elsewhere):
    target = saved_index(tmp_path / "idx")
    release = lock_held_elsewhere(target)
    threading.Timer(1.0, release.set).start()
    code, _, err = cli("delete", "--index", target, "--ids", "d1")
    assert code == 0, err
    assert "waiting for another writer" in err and str(target) in err
    assert "d1" not in Index.load(target)


def test_a_writer_with_a_lock_timeout_gives_up_with_a_clear_error_and_changes_nothing(cli, tmp_path,
                                                                                     lock_held_elsewhere):
    target = saved_index(tmp_path / "idx")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    lock_held_elsewhere(target)
    start = time.monotonic()
    code, _, err = cli("delete", "--index", target, "--ids", "d1", "--lock-timeout", "0.5")
    assert code == 2 and time.monotonic() - start < 10
    assert "still holds this index's lock after 0.5 s" in err and "--lock-timeout" in err
    assert err.strip().splitlines()[-1].startswith("textmetric: error:")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before


def test_the_lock_timeout_reaches_the_python_api(tmp_path, lock_held_elsewhere):
    target = saved_index(tmp_path / "idx")
    lock_held_elsewhere(target)
    with pytest.raises(LockTimeout, match="lock_timeout"):
        Index.load(target).save(target, lock_timeout=0.2)


def test_the_lock_of_a_killed_writer_is_free_at_once(tmp_path):
    target = saved_index(tmp_path / "idx")
    holder = run_script("""
        import sys, time
        from textmetric.index.folder import write_lock
        with write_lock(sys.argv[1]):
            print("held", flush=True)
            time.sleep(60)
    """, target)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with write_lock(target, lock_timeout=5):
        pass


def test_the_thread_holding_the_lock_may_take_it_again(tmp_path):
    target = saved_index(tmp_path / "idx")
    with write_lock(target, lock_timeout=0):
        index = Index.load(target)
        index.delete(["d1"])
        index.save(target, lock_timeout=0)  # takes the same lock inside
    assert not lock_path(target).exists()


def test_saving_over_a_generation_this_index_has_not_seen_is_refused(tmp_path):
    target = saved_index(tmp_path / "idx")
    first, second = Index.load(target), Index.load(target)
    first.delete(["d1"])
    first.save(target)
    second.delete(["d2"])
    with pytest.raises(InputError, match="another writer saved this index after it was loaded"):
        second.save(target)
    assert set(Index.load(target).ids) == {"d0", "d2", "d3", "d4"}


# -- a writer among searches in one process ------------------------------------------------------

def test_a_change_gets_in_while_threads_search_back_to_back(monkeypatch):
    index = Index(8)
    index.add([f"d{i}" for i in range(50)], vectors(50))
    real_search = index.vectors.search

    def slow_search(*args):  # searches that overlap, so that some search is always running
        time.sleep(0.02)
        return real_search(*args)

    monkeypatch.setattr(index.vectors, "search", slow_search)
    stop = threading.Event()

    def searcher():
        while not stop.is_set():
            index.search(vectors(1, seed=1), k=3)

    searchers = [threading.Thread(target=searcher) for _ in range(4)]
    for thread in searchers:
        thread.start()
    time.sleep(0.2)
    start = time.monotonic()
    writer = threading.Thread(target=index.delete, args=(["d1"],))
    writer.start()
    writer.join(timeout=5)
    waited = time.monotonic() - start
    stop.set()
    for thread in searchers:
        thread.join()
    writer.join()
    assert waited < 1.0, f"the delete waited {waited:.1f} s behind the searches"
    assert "d1" not in index


def test_searches_that_arrive_while_a_change_waits_run_after_it():
    lock = ReadWriteLock()
    order = []
    first_reader_in, release_first = threading.Event(), threading.Event()

    def first_reader():
        with lock.reading():
            first_reader_in.set()
            release_first.wait(10)

    def writer():
        with lock.writing():
            order.append("write")

    def late_reader():
        with lock.reading():
            order.append("late search")

    threads = [threading.Thread(target=first_reader)]
    threads[0].start()
    assert first_reader_in.wait(10)
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    deadline = time.monotonic() + 10
    while not lock._writers_waiting and time.monotonic() < deadline:
        time.sleep(0.01)
    threads.append(threading.Thread(target=late_reader))
    threads[2].start()
    time.sleep(0.1)
    assert order == []  # the late search does not slip in ahead of the waiting change
    release_first.set()
    for thread in threads:
        thread.join(10)
    assert order == ["write", "late search"]


# -- readers against a writer in another process ------------------------------------------------

SWAPPER = """
    import sys, numpy as np
    from pathlib import Path
    from textmetric.data import Document
    from textmetric.index import Index
    from textmetric.index.folder import write_lock
    target, stop = sys.argv[1], Path(sys.argv[2])
    extra = [f"x{i}" for i in range(7)]
    rng = np.random.default_rng(0)
    while not stop.exists():
        with write_lock(target):
            index = Index.load(target)
            if "x0" in index:
                index.delete(extra)
            else:
                index.add(extra, rng.normal(size=(7, 8)).astype(np.float32), [Document(f"more {d}") for d in extra])
            index.save(target)
"""


def test_a_reader_loading_against_a_writer_swapping_never_sees_a_mix(tmp_path):
    target = saved_index(tmp_path / "idx", n=20, lexical=True)
    stop = tmp_path / "stop"
    writer = run_script(SWAPPER, target, stop)
    base = {f"d{i}" for i in range(20)}
    generations, failures = set(), []
    try:
        deadline = time.monotonic() + 6
        loads = 0
        while time.monotonic() < deadline and (loads < 400 or len(generations) < 4):
            loads += 1
            try:
                index = Index.load(target)
                ids = set(index.ids)
                assert ids in (base, base | {f"x{i}" for i in range(7)}), sorted(ids)
                assert len(index.search_lexical(["document"], k=3)[0]) == 3
                generations.add(index.generation)
            except (InputError, OSError, AssertionError) as e:
                failures.append(repr(e))
    finally:
        stop.touch()
        _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert failures == []
    assert len(generations) >= 4, "the writer swapped too rarely for the test to mean anything"


def test_an_index_knows_when_its_folder_holds_a_newer_generation(tmp_path):
    target = saved_index(tmp_path / "idx")
    served = Index.load(target)
    assert served.generation is not None and not served.changed()
    writer = Index.load(target)
    writer.delete(["d1"])
    writer.save(target)
    assert served.changed() and not writer.changed()
    reloaded = Index.load(target)
    assert reloaded.generation == writer.generation and not reloaded.changed()


def test_an_index_never_saved_has_no_generation():
    index = Index(8)
    assert index.generation is None and not index.changed()


def test_sharded_indexes_know_when_any_shard_changed(tmp_path):
    from textmetric.index.shards import load_indexes

    both = load_indexes([saved_index(tmp_path / "a"), saved_index(tmp_path / "b")])
    assert not both.changed()
    writer = Index.load(tmp_path / "b")
    writer.delete(["d1"])
    writer.save(tmp_path / "b")
    assert both.changed()


def test_a_save_does_not_wait_for_a_running_search(tmp_path, monkeypatch):
    index = Index.load(saved_index(tmp_path / "idx"))
    searching, release = threading.Event(), threading.Event()
    real_search = index.vectors.search

    def held_search(*args):
        searching.set()
        release.wait(10)
        return real_search(*args)

    monkeypatch.setattr(index.vectors, "search", held_search)
    search = threading.Thread(target=index.search, args=(vectors(1), 3))
    search.start()
    assert searching.wait(10)
    try:
        saver = threading.Thread(target=index.save, args=(tmp_path / "copy",))
        saver.start()
        saver.join(5)
        assert not saver.is_alive(), "the save waited for the search"
    finally:
        release.set()
        search.join()
    assert len(Index.load(tmp_path / "copy")) == 5


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0])
def test_a_lock_timeout_out_of_range_is_refused(tmp_path, timeout):
    with pytest.raises(InputError, match="lock_timeout must be a finite number >= 0"):
        with write_lock(tmp_path / "idx", timeout):
            pass
