"""`textmetric serve` under load on SciFact: throughput and latency by concurrent clients, against in-process search.

The SciFact corpus is indexed once with the default model (cached under benchmarks/results/),
then, in one run:

- the reference: ``Retriever.search`` in this process, one test query at a time (QPS, latencies), measured
  before and after the service (A B B A) and averaged; beside it the encoder alone on batches of 16
  queries: a ceiling for any service on this backend, which must encode every query it answers;
- the service (``textmetric serve`` in its own process, on 127.0.0.1 only): the test queries sent by
  1, 4, 16 and 64 concurrent clients, a fixed number of requests each: QPS, p50/p95/p99 latency,
  errors, and the mean micro-batch the service encoded;
- a mixed run on a copy of the index: searching clients while a writer adds a batch of documents and
  deletes the one before, for ``--mixed-seconds``; then every acknowledged write is checked
  (added ones present, deleted ones gone): errors and lost writes.

Targets: service QPS at 16 clients >= 1.5x the in-process single-query loop, p99 at 16
clients <= 100 ms on a 2-core machine, 0 errors, 0 lost writes.

    python benchmarks/serve.py [--backend onnx-int8] [--mixed-seconds 60]
    python benchmarks/serve.py --quick      # 500 documents, few requests, a 10 s mixed run; no result file

Every phase is bounded in requests and in time (``--max-seconds`` per phase).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import RESULTS, SCIFACT, have_scifact, run_for

CLIENTS = (1, 4, 16, 64)
KEY = "benchmark-key"
TARGETS = {"qps_ratio_16": 1.5, "p99_ms_16": 100.0}
CEILING_BATCH = 16  # queries per encode in the encode-only ceiling


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(latencies: list[float], seconds: float, errors: int) -> dict:
    return {"requests": len(latencies), "errors": errors, "seconds": round(seconds, 3),
            "qps": round(len(latencies) / seconds, 1) if seconds else 0.0,
            "p50_ms": round(1000 * percentile(latencies, 0.50), 2), "p95_ms": round(1000 * percentile(latencies, 0.95), 2),
            "p99_ms": round(1000 * percentile(latencies, 0.99), 2)}


def build(folder: Path, corpus: dict, backend: str) -> None:
    """Index ``corpus`` into ``folder`` with the default model on ``backend``, unless it is there already."""
    import textmetric as tm

    if (folder / "manifest.json").exists():
        return
    print(f"indexing {len(corpus):,} documents ({backend}) into {folder} ...", file=sys.stderr, flush=True)
    tm.build_index(tm.Encoder.load(backend=backend), corpus, folder, progress=sys.stderr.isatty())


class Reference:
    """In this process: ``Retriever.search`` one query at a time (the reference), and the encoder alone on
    batches of ``CEILING_BATCH`` queries -- the most queries per second that any service on this backend can
    answer, since it must encode every query (a bound on what micro-batching can win)."""

    def __init__(self, folder: Path) -> None:
        import textmetric as tm

        self.index = tm.Index.load(folder)
        self.encoder = tm.load_index_model(self.index)
        self.retriever = tm.Retriever(self.encoder, self.index)

    def search(self, queries: list[str], max_seconds: float) -> dict:
        for text in queries[:5]:
            self.retriever.search([text], k=10)  # warm-up
        latencies = []
        start = time.perf_counter()
        for text in queries:
            begin = time.perf_counter()
            self.retriever.search([text], k=10)
            latencies.append(time.perf_counter() - begin)
            if time.perf_counter() - start > max_seconds:
                break
        return summary(latencies, time.perf_counter() - start, 0)

    def encode_ceiling(self, queries: list[str], max_seconds: float) -> dict:
        self.encoder.encode_queries(queries[:CEILING_BATCH], batch_size=CEILING_BATCH)  # warm-up
        latencies = []
        start = time.perf_counter()
        for first in range(0, len(queries), CEILING_BATCH):
            batch = queries[first:first + CEILING_BATCH]
            begin = time.perf_counter()
            self.encoder.encode_queries(batch, batch_size=CEILING_BATCH)
            latencies += [time.perf_counter() - begin] * len(batch)
            if time.perf_counter() - start > max_seconds:
                break
        return summary(latencies, time.perf_counter() - start, 0)


def mean_of(first: dict, second: dict) -> dict:
    """The reference measured before and after the service (A B B A): QPS and latencies averaged."""
    row = {key: round((first[key] + second[key]) / 2, 2) for key in ("qps", "p50_ms", "p95_ms", "p99_ms")}
    return {"requests": first["requests"] + second["requests"], "errors": 0,
            "seconds": round(first["seconds"] + second["seconds"], 3), **row,
            "before_qps": first["qps"], "after_qps": second["qps"]}


class Server:
    """``textmetric serve`` in a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, folder: Path, writes: bool = False) -> None:
        env = dict(os.environ)
        if writes:
            env["TEXTMETRIC_API_KEY"] = KEY
        self.process = subprocess.Popen([sys.executable, "-m", "textmetric", "serve", "--index", str(folder),
                                         "--host", "127.0.0.1", "--port", "0", "--quiet"],
                                        stdout=subprocess.PIPE, text=True, env=env)
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.process.kill()
            raise RuntimeError(f"the service did not start (said {self.url!r})")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def load(url: str, queries: list[str], clients: int, per_client: int, max_seconds: float) -> dict:
    """``clients`` threads, each sending ``per_client`` single-query searches back to back."""
    import textmetric as tm

    client = tm.Client(url)
    before = client.info()["batching"]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    deadline = time.perf_counter() + max_seconds
    barrier = threading.Barrier(clients + 1)

    def work(number: int) -> None:
        barrier.wait()
        for request in range(per_client):
            if time.perf_counter() > deadline:
                return
            text = queries[(number * per_client + request) % len(queries)]
            begin = time.perf_counter()
            try:
                client.search([text], k=10)
            except Exception:
                errors[number] += 1
                continue
            latencies[number].append(time.perf_counter() - begin)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    after = client.info()["batching"]
    row = summary([x for per in latencies for x in per], seconds, sum(errors))
    batches = after["batches"] - before["batches"]
    row["mean_batch"] = round((after["queries"] - before["queries"]) / batches, 2) if batches else 0.0
    return row


def mixed(url: str, queries: list[str], corpus_texts: list[str], seconds: float, searchers: int = 8) -> dict:
    """Searches and writes at once for ``seconds``; then every acknowledged write is checked."""
    import textmetric as tm

    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    present: set[str] = set()  # acknowledged adds not deleted since
    gone: set[str] = set()     # acknowledged deletes
    writes = [0]

    def search(number: int) -> None:
        client = tm.Client(url)
        request = number
        while not stop.is_set():
            begin = time.perf_counter()
            try:
                client.search([queries[request % len(queries)]], k=10)
                latencies.append(time.perf_counter() - begin)
            except Exception as error:
                errors.append(f"search: {error}")
            request += searchers

    def write() -> None:
        client = tm.Client(url, api_key=KEY)
        batch = 0
        while not stop.is_set():
            ids = [f"bench-{batch}-{i}" for i in range(4)]
            try:
                client.add({doc_id: corpus_texts[(batch * 4 + i) % len(corpus_texts)] for i, doc_id in enumerate(ids)})
                present.update(ids)
                writes[0] += 1
                if batch:
                    old = [f"bench-{batch - 1}-{i}" for i in range(4)]
                    client.delete(old)
                    present.difference_update(old)
                    gone.update(old)
                    writes[0] += 1
            except Exception as error:
                errors.append(f"write: {error}")
            batch += 1

    threads = [threading.Thread(target=search, args=(n,)) for n in range(searchers)] + [threading.Thread(target=write)]
    elapsed = run_for(threads, seconds, stop)
    client = tm.Client(url)
    lost = sum(client.document(d) is None for d in present) + sum(client.document(d) is not None for d in gone)
    row = summary(latencies, elapsed, len(errors))
    row.update(writes=writes[0], lost_writes=lost, first_errors=errors[:3])
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per client at each level [default: 600 / clients, at least 20]")
    parser.add_argument("--mixed-seconds", type=float, default=60.0)
    parser.add_argument("--max-seconds", type=float, default=180.0, help="time bound of each phase")
    parser.add_argument("--quick", action="store_true",
                        help="500 documents, 64 queries, few requests, a 10 s mixed run; no result file")
    args = parser.parse_args()
    if not have_scifact():
        return 0
    import textmetric as tm

    data = tm.load_beir(SCIFACT, "test")
    ids = list(data.corpus)
    if args.quick:
        ids = ids[:500]
    corpus = {doc_id: data.corpus[doc_id] for doc_id in ids}
    queries = list(data.queries.values())[:64 if args.quick else None]
    folder = RESULTS / f"serve-index-{args.backend}{'-quick' if args.quick else ''}"
    build(folder, corpus, args.backend)

    local = Reference(folder)
    before = local.search(queries, args.max_seconds)
    ceiling_before = local.encode_ceiling(queries, args.max_seconds)
    print(f"in-process Retriever.search, one query at a time: {json.dumps(before)}", file=sys.stderr, flush=True)
    rows: dict = {}
    server = Server(folder)
    try:
        for warm in queries[:8]:
            tm.Client(server.url).search([warm], k=10)
        for clients in CLIENTS:
            per_client = args.requests or (max(4, 160 // clients) if args.quick else max(20, 600 // clients))
            rows[f"clients_{clients}"] = load(server.url, queries, clients, per_client, args.max_seconds)
            print(f"{clients} clients: {json.dumps(rows[f'clients_{clients}'])}", file=sys.stderr, flush=True)
    finally:
        server.stop()
    # A B B A: the in-process figures again, after the service, so that drift in the machine's load shows.
    ceiling_after = local.encode_ceiling(queries, args.max_seconds)
    after = local.search(queries, args.max_seconds)
    rows = {"reference": mean_of(before, after), "encode_ceiling": mean_of(ceiling_before, ceiling_after), **rows}
    print(f"in-process, after the service: {json.dumps(after)}", file=sys.stderr, flush=True)
    del local

    with tempfile.TemporaryDirectory(prefix="serve-bench-") as scratch:
        copy = Path(scratch) / "index"
        shutil.copytree(folder, copy)
        server = Server(copy, writes=True)
        try:
            seconds = 10.0 if args.quick else args.mixed_seconds
            rows["mixed"] = mixed(server.url, queries, [corpus[i].full_text for i in ids], seconds)
        finally:
            server.stop()

    reference_qps = rows["reference"]["qps"]
    sixteen = rows["clients_16"]
    checks = {
        f"QPS at 16 clients >= {TARGETS['qps_ratio_16']}x in-process": sixteen["qps"] >= TARGETS["qps_ratio_16"] * reference_qps,
        f"p99 at 16 clients <= {TARGETS['p99_ms_16']:.0f} ms": sixteen["p99_ms"] <= TARGETS["p99_ms_16"],
        "no errors": all(row["errors"] == 0 for row in rows.values()),
        "no lost writes": rows["mixed"]["lost_writes"] == 0,
    }
    print(f"\nSciFact: {len(corpus):,} documents, {len(queries)} test queries, {args.backend}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'':<22} {'requests':>8} {'QPS':>8} {'x ref':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'errors':>6} {'batch':>6}")
    for name, row in rows.items():
        label = {"reference": "in-process, 1 by 1", "mixed": "mixed (8 searchers)",
                 "encode_ceiling": f"encode only, by {CEILING_BATCH}"}.get(
            name, name.replace("clients_", "service, ") + " clients")
        print(f"{label:<22} {row['requests']:>8} {row['qps']:>8.1f} {row['qps'] / reference_qps:>6.2f} "
              f"{row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['errors']:>6} "
              f"{row.get('mean_batch', ''):>6}")
    print(f"in-process reference before / after the service: {rows['reference']['before_qps']} / "
          f"{rows['reference']['after_qps']} QPS (the table gives their mean); encode only before / after: "
          f"{rows['encode_ceiling']['before_qps']} / {rows['encode_ceiling']['after_qps']}")
    print(f"mixed run: {rows['mixed']['writes']} acknowledged writes, {rows['mixed']['lost_writes']} lost")
    for check, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {check}")
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "serve.json").write_text(json.dumps({"backend": args.backend, "documents": len(corpus),
                                                        "queries": len(queries), "rows": rows,
                                                        "checks": checks}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
