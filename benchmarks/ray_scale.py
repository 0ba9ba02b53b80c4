"""Past one machine, measured on SciFact: Ray Data encoding against the local worker pool, and shard fan-out latency.

1. Encoding throughput: the same seeded sample of documents, the same backend, encoded by
   ``--encoders`` Ray Data actors (:func:`textmetric.distributed.build.encode_corpus_on_ray`,
   reading the sample's jsonl file, the actors' model loads included) against the local
   ``--workers`` path (``Encoder.encode_documents`` with that many workers), in interleaved
   ABBA rounds so that machine drift hits both alike. The Ray cluster is started once,
   before the rounds, and not timed. Target: Ray docs/s >= 0.9 x local.
2. Fan-out latency: one query at a time (median and p95 over the test queries), top 10,
   against one index of the sampled documents and against 1, 2 and 4 shards of it searched
   together (``ShardedIndex``: each shard's top k, merged by ``merge_shard_hits``), alternating.

    python benchmarks/ray_scale.py            # the measurement (~8 min on 2 quiet cores)
    python benchmarks/ray_scale.py --quick    # a smoke run (~1 min): small sample, 2 rounds

Results go to benchmarks/results/ray_scale.json. Run it on a quiet machine: throughput on a
shared one says nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, SCIFACT, have_scifact, interleaved_seconds

SHARD_COUNTS = (1, 2, 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run")
    parser.add_argument("--sample", type=int, default=5183,
                        help="documents encoded per round (default: the whole corpus; a Ray run has a fixed start, "
                             "about 9 s here, that a small sample does not amortise)")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds (even)")
    parser.add_argument("--backend", default="torch", help="torch, onnx or onnx-int8, on both sides")
    parser.add_argument("--encoders", type=int, default=2, help="Ray encoder actors")
    parser.add_argument("--workers", type=int, default=2, help="local encoding workers")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--queries", type=int, default=300, help="test queries timed per fan-out")
    parser.add_argument("--max-seconds", type=float, default=1200, help="stop after the phase that passes this")
    args = parser.parse_args()
    if args.quick:
        args.sample, args.rounds, args.queries = 64, 2, 20
    if not have_scifact():
        return 0
    import ray

    from textmetric import Encoder, Index, load_beir
    from textmetric.distributed.build import encode_corpus_on_ray
    from textmetric.distributed.cluster import ray_session
    from textmetric.index.shards import ShardedIndex, select_shard

    began = time.perf_counter()
    data = load_beir(SCIFACT, "test")
    ids = random.Random(0).sample(list(data.corpus), min(args.sample, len(data.corpus)))
    texts = [data.corpus[i].full_text for i in ids]
    local = Encoder.load(backend=args.backend, workers=args.workers)
    local.encode_documents(texts[:8], batch_size=args.batch_size)  # warm-up (and the worker pool's start)
    result: dict = {"sample": len(ids), "rounds": args.rounds, "backend": args.backend, "encoders": args.encoders,
                    "workers": args.workers, "batch_size": args.batch_size}
    block = max(1, -(-len(ids) // (4 * args.encoders)))  # four blocks an actor: the load stays even
    with tempfile.TemporaryDirectory() as folder, ray_session(None, num_cpus=args.encoders):
        sample_file = Path(folder) / "sample.jsonl"
        sample_file.write_text("".join(json.dumps({"_id": i, "title": data.corpus[i].title,
                                                   "text": data.corpus[i].text}) + "\n" for i in ids))
        single = Encoder.load(backend=args.backend)
        reference, candidate = interleaved_seconds(
            lambda: local.encode_documents(texts, batch_size=args.batch_size),
            lambda: encode_corpus_on_ray(sample_file, single, encoders=args.encoders, batch_size=args.batch_size,
                                         block_size=block),
            args.rounds)
        result["encoding"] = {"local_docs_per_second": len(ids) / reference,
                              "ray_docs_per_second": len(ids) / candidate, "ratio": reference / candidate,
                              "ray_extra_seconds": candidate - reference,
                              "block_size": block, "cluster_cpus": ray.cluster_resources().get("CPU")}
        print(f"encoding {len(ids)} docs: local --workers {args.workers} {len(ids) / reference:.1f} docs/s, "
              f"Ray {args.encoders} actors {len(ids) / candidate:.1f} docs/s, ratio {reference / candidate:.2f} "
              f"(target >= 0.9); Ray's extra time {candidate - reference:.1f} s a run", file=sys.stderr, flush=True)
    if time.perf_counter() - began < args.max_seconds:
        result["fan_out"] = fan_out(data, ids, single, args, Index, ShardedIndex, select_shard)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("ray_scale-quick.json" if args.quick else "ray_scale.json")).write_text(json.dumps(result, indent=2))
    return 0


def fan_out(data, ids, encoder, args, Index, ShardedIndex, select_shard) -> dict:
    """Median and p95 single-query latency of one index and of 1, 2 and 4 shards of it searched together."""
    vectors = encoder.encode_documents([data.corpus[i].full_text for i in ids], batch_size=args.batch_size)
    position = {doc_id: row for row, doc_id in enumerate(ids)}

    def index_of(chosen: list[str]):
        index = Index(vectors.shape[1], capacity=max(len(chosen), 1))
        index.add(chosen, vectors[[position[d] for d in chosen]])
        return index

    corpus = {i: data.corpus[i] for i in ids}
    systems = {"one index": index_of(ids)}
    for count in SHARD_COUNTS:
        systems[f"{count} shards"] = ShardedIndex([index_of(list(select_shard(corpus, (i, count))))
                                                   for i in range(count)])
    queries = encoder.encode_queries(list(data.queries.values())[:args.queries])
    times: dict[str, list[float]] = {name: [] for name in systems}
    for number, query in enumerate(queries):
        names = list(systems) if number % 2 == 0 else list(reversed(systems))  # alternate the order
        for name in names:
            start = time.perf_counter()
            systems[name].search(query[None, :], 10)
            times[name].append(time.perf_counter() - start)
    rows = {}
    for name, seconds in times.items():
        seconds.sort()
        rows[name] = {"median_ms": 1000 * statistics.median(seconds),
                      "p95_ms": 1000 * seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]}
        print(f"{name:<10} median {rows[name]['median_ms']:.3f} ms, p95 {rows[name]['p95_ms']:.3f} ms",
              file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
