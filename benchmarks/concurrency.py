"""One index used by many at once: searches, a writer and a second process; then kill -9 at random moments.

Part 1, for --seconds of wall time, on an index of --docs random --dim-dimensional vectors:

- --readers threads search it back to back (one query each, k 10);
- a writer thread in the same process adds --batch documents and saves, then deletes them and
  saves, each under the folder's writer lock;
- a second process loads the folder and searches it, in a loop.

Reports searches per second, the write latency p50 / p99 under that load (the change in memory,
which waits for the searches already running; and the change with its save), the second process's
loads, and the failures: any exception anywhere, or a load that is not one whole generation (the
base documents, alone or with one complete batch). Target: 0 failures.

Part 2, --kill-trials times: ``textmetric index`` (over the index), ``add``, ``delete`` or
``compact``, chosen at random, is killed with SIGKILL at a random moment of its run (uniform over
the time it takes unkilled, measured first). After each kill the index must load; after the next
write (a load and a save under the lock) no ``.NAME.tmp-*``, ``.NAME.old`` or ``.NAME.lock`` may be
left. A killed build keeps its chunks in ``.NAME.build/`` on purpose (the next build resumes from
them): counted apart, and the last step, an unkilled build, must remove it. Targets: 0 unloadable,
0 leftovers. Uses --model (default: the offline all-MiniLM-L6-v2) for build and add.

    python benchmarks/concurrency.py [--seconds 30] [--readers 4] [--kill-trials 100]
    python benchmarks/concurrency.py --quick      # 5 s of load and 8 kill trials: proves it runs

Writes benchmarks/results/concurrency.json (not with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

from common import RESULTS, run_for

SECOND_PROCESS = """
    import json, sys, time, numpy as np
    from pathlib import Path
    from textmetric.index import Index
    folder, stop, base_count, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    base = {f"d{i}" for i in range(base_count)}
    rng = np.random.default_rng(1)
    loads = searches = 0
    failures, generations = [], set()
    while not stop.exists():
        try:
            index = Index.load(folder)
            ids = set(index.ids)
            extra = ids - base
            batches = {d.split("-")[0] for d in extra}
            if not base <= ids or len(batches) > 1 or (extra and len(extra) != batch):
                failures.append(f"not one generation: {len(ids)} ids, extra batches {sorted(batches)[:3]}")
            hits = index.search(rng.normal(size=(1, index.dim)).astype(np.float32), k=10)
            if len(hits[0]) != min(10, len(ids)):
                failures.append(f"{len(hits[0])} hits")
            loads, searches = loads + 1, searches + 1
            generations.add(index.generation)
        except Exception as e:
            failures.append(repr(e))
    print(json.dumps({"loads": loads, "searches": searches, "generations": len(generations), "failures": failures}))
"""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def under_load(folder: Path, seconds: float, readers: int, docs: int, dim: int, batch: int) -> dict:
    """Part 1: searches, a writer and a second process on one index for ``seconds``."""
    from textmetric.index import Index
    from textmetric.index.folder import write_lock

    rng = np.random.default_rng(0)
    first = Index(dim, capacity=docs + 2 * batch)
    first.add([f"d{i}" for i in range(docs)], rng.normal(size=(docs, dim)).astype(np.float32))
    first.save(folder)
    index = Index.load(folder)
    stop, failures = threading.Event(), []
    searches = [0] * readers
    change_seconds: list[float] = []
    write_seconds: list[float] = []

    def search(n: int) -> None:
        queries = np.random.default_rng(100 + n).normal(size=(64, dim)).astype(np.float32)
        i = 0
        while not stop.is_set():
            try:
                index.search(queries[i % 64:i % 64 + 1], k=10)
                searches[n] += 1
            except Exception as e:  # counted, never expected
                failures.append(f"search: {e!r}")
            i += 1

    def write() -> None:
        vectors = np.random.default_rng(7).normal(size=(batch, dim)).astype(np.float32)
        j = 0
        while not stop.is_set():
            ids = [f"w{j}-{i}" for i in range(batch)]
            for change in (lambda: index.add(ids, vectors), lambda: index.delete(ids)):
                try:
                    start = time.perf_counter()
                    with write_lock(folder):
                        change()
                        changed = time.perf_counter()
                        index.save(folder)
                    change_seconds.append(changed - start)
                    write_seconds.append(time.perf_counter() - start)
                except Exception as e:  # counted, never expected
                    failures.append(f"write: {e!r}")
            j += 1

    stop_file = folder.parent / "stop"
    second = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SECOND_PROCESS), str(folder), str(stop_file),
                               str(docs), str(batch)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threads = [threading.Thread(target=search, args=(n,)) for n in range(readers)] + [threading.Thread(target=write)]
    elapsed = run_for(threads, seconds, stop)
    stop_file.touch()
    out, err = second.communicate(timeout=120)
    if second.returncode != 0:
        failures.append(f"second process exited {second.returncode}: {err.strip()[-300:]}")
        other = {"loads": 0, "searches": 0, "generations": 0, "failures": []}
    else:
        other = json.loads(out)
    failures += [f"second process: {f}" for f in other["failures"]]
    return {
        "seconds": round(elapsed, 1), "readers": readers, "docs": docs, "dim": dim, "batch": batch,
        "searches_per_second": round(sum(searches) / elapsed, 1),
        "writes": len(write_seconds),
        "change_ms_p50": round(1000 * percentile(change_seconds, 50), 2),
        "change_ms_p99": round(1000 * percentile(change_seconds, 99), 2),
        "write_ms_p50": round(1000 * percentile(write_seconds, 50), 2),
        "write_ms_p99": round(1000 * percentile(write_seconds, 99), 2),
        "second_process_loads_per_second": round(other["loads"] / elapsed, 1),
        "generations_seen_by_second_process": other["generations"],
        "failures": len(failures), "failure_examples": failures[:5],
    }


def corpus_file(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(json.dumps({"_id": d, "text": f"document {d} about topic {hash(d) % 13}"}) + "\n"
                            for d in ids), encoding="utf-8")
    return path


def kill_trials(work: Path, trials: int, model: str, docs: int, seed: int) -> dict:
    """Part 2: kill -9 at random moments of build / add / delete / compact; the index must survive each."""
    from textmetric.index import Index
    from textmetric.index.folder import write_lock

    folder = work / "idx"
    corpus = corpus_file(work / "corpus.jsonl", [f"d{i}" for i in range(docs)])
    new_ids = [f"n{i}" for i in range(max(docs // 10, 1))]
    new = corpus_file(work / "new.jsonl", new_ids)
    base = [sys.executable, "-m", "textmetric"]
    commands = {
        "build": [*base, "index", "--corpus", str(corpus), "--output", str(folder), "--model", model, "--overwrite",
                  "--chunk-size", str(max(docs // 4, 1)), "-q"],
        "add": [*base, "add", "--index", str(folder), "--corpus", str(new), "--model", model, "-q"],
        "delete": [*base, "delete", "--index", str(folder), "--ids", ",".join(new_ids), "-q"],
        "compact": [*base, "compact", "--index", str(folder), "-q"],
    }
    durations = {}
    for op in ("build", "add", "delete", "compact"):  # each once, unkilled: how long it takes, and that it works
        start = time.perf_counter()
        done = subprocess.run(commands[op], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{op} failed unkilled: {done.stderr.strip()[-500:]}")
        durations[op] = time.perf_counter() - start
    rng = random.Random(seed)
    unloadable, leftovers, kept_build, killed_running, by_op = 0, [], 0, 0, {op: 0 for op in commands}
    for _ in range(trials):
        op = rng.choice(list(commands))
        by_op[op] += 1
        proc = subprocess.Popen(commands[op], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, durations[op]))
        if proc.poll() is None:
            killed_running += 1
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            Index.load(folder)
        except Exception:  # counted: the target is none
            unloadable += 1
            continue
        with write_lock(folder):  # the next write
            Index.load(folder).save(folder)
        left = [p.name for p in work.iterdir() if p.name.startswith((".idx.tmp-", ".idx.old", ".idx.lock"))]
        leftovers += left
        kept_build += (work / ".idx.build").exists()
    final = subprocess.run(commands["build"], capture_output=True, text=True)
    return {
        "trials": trials, "by_operation": by_op, "killed_while_running": killed_running,
        "seconds_unkilled": {op: round(s, 2) for op, s in durations.items()},
        "unloadable": unloadable, "leftovers_after_next_write": len(leftovers), "leftover_examples": leftovers[:5],
        "build_folder_kept_for_resume": kept_build,
        "final_build_ok_and_build_folder_removed": final.returncode == 0 and not (work / ".idx.build").exists(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="Wall time of part 1.")
    parser.add_argument("--readers", type=int, default=4, help="Searching threads in part 1.")
    parser.add_argument("--docs", type=int, default=20000, help="Documents of part 1's index.")
    parser.add_argument("--dim", type=int, default=384, help="Dimension of part 1's vectors.")
    parser.add_argument("--batch", type=int, default=10, help="Documents per add / delete in part 1.")
    parser.add_argument("--kill-trials", type=int, default=100, help="Kill -9 trials in part 2 (0 skips it).")
    parser.add_argument("--kill-docs", type=int, default=200, help="Documents of part 2's corpus.")
    parser.add_argument("--model", default=None, help="Model for part 2's build and add [default: the offline "
                                                      "all-MiniLM-L6-v2].")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument("--quick", action="store_true", help="5 s of part 1 on 2,000 64-d vectors, 8 kill "
                                                             "trials on 60 documents; no result file.")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.docs, args.dim, args.kill_trials, args.kill_docs = 5.0, 2000, 64, 8, 60
    from textmetric.encoding import default_model_path

    model = args.model or str(default_model_path())
    results = {}
    with tempfile.TemporaryDirectory(prefix="textmetric-concurrency-") as tmp:
        (Path(tmp) / "load").mkdir()
        results["under_load"] = under_load(Path(tmp) / "load" / "idx", args.seconds, args.readers, args.docs,
                                           args.dim, args.batch)
        print(json.dumps(results["under_load"], indent=2))
        if args.kill_trials:
            (Path(tmp) / "kill").mkdir()
            results["kill_trials"] = kill_trials(Path(tmp) / "kill", args.kill_trials, model, args.kill_docs, args.seed)
            print(json.dumps(results["kill_trials"], indent=2))
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "concurrency.json").write_text(json.dumps(results, indent=2))
    kills = results.get("kill_trials", {})
    ok = (results["under_load"]["failures"] == 0 and not kills.get("unloadable")
          and not kills.get("leftovers_after_next_write") and kills.get("final_build_ok_and_build_folder_removed", True))
    print("OK: 0 failures, 0 unloadable, 0 leftovers" if ok else "FAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
