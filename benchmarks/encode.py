"""Encoding speed and quality of each backend on SciFact, against raw sentence-transformers in the same run.

For torch, onnx and onnx-int8: documents per second on a seeded sample of the corpus as a
ratio to ``SentenceTransformer.encode`` (interleaved ABBA rounds, so machine drift hits both
sides alike), single-query latency (median of 200 test queries, one at a time), and nDCG@10 /
MAP on SciFact test with the whole corpus encoded by that backend (exact search).

    python benchmarks/encode.py                    # all of it (~15 min on 2 cores)
    python benchmarks/encode.py --no-quality       # speed only (~5 min)

Targets: onnx-int8 >= 2.0x torch with nDCG@10 within 0.005; onnx >= 1.2x.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

from common import RESULTS, SCIFACT, cached_embeddings, have_scifact, interleaved_seconds

BACKENDS = ("torch", "onnx", "onnx-int8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=256, help="documents timed per round")
    parser.add_argument("--rounds", type=int, default=4, help="ABBA rounds per backend (even)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--no-quality", action="store_true", help="skip the full-corpus nDCG@10 of each backend")
    args = parser.parse_args()
    if not have_scifact():
        return 0
    from textmetric import Encoder, ExactIndex, Retriever, encode, evaluate_retriever, load_beir, load_model

    data = load_beir(SCIFACT, "test")
    ids = list(data.corpus)
    texts = [data.corpus[i].full_text for i in ids]
    sample = random.Random(0).sample(texts, min(args.sample, len(texts)))
    queries = list(data.queries.values())[:args.latency_queries]
    raw = load_model()  # a SentenceTransformer: .encode is sentence-transformers' own
    rows = {}
    for backend in BACKENDS:
        start = time.perf_counter()
        model = Encoder.load(backend=backend)
        load_seconds = time.perf_counter() - start
        encode(model, sample[:8], batch_size=args.batch_size)  # warm-up (first-call allocations)
        reference, candidate = interleaved_seconds(
            lambda: raw.encode(sample, batch_size=args.batch_size),
            lambda: encode(model, sample, batch_size=args.batch_size), args.rounds)
        latencies = []
        for query in queries:
            t = time.perf_counter()
            encode(model, [query])
            latencies.append(time.perf_counter() - t)
        row = {"load_seconds": load_seconds, "docs_per_second": len(sample) / candidate,
               "reference_docs_per_second": len(sample) / reference, "throughput_ratio": reference / candidate,
               "latency_ms_median": 1000 * statistics.median(latencies)}
        if not args.no_quality:
            embeddings = cached_embeddings(model, texts, "scifact-corpus" if backend == "torch"
                                           else f"scifact-corpus-{backend}", progress=sys.stderr.isatty())
            evaluation, _ = evaluate_retriever(Retriever(model, ExactIndex(ids, embeddings)), data.queries,
                                               data.qrels, k=1000, metrics=["ndcg@10", "map"])
            row.update(evaluation.means)
        rows[backend] = row
        print(f"{backend}: {json.dumps(row)}", file=sys.stderr, flush=True)
    reference_latency = []
    for query in queries:
        t = time.perf_counter()
        raw.encode([query])
        reference_latency.append(time.perf_counter() - t)
    print(f"SciFact: {len(sample)} documents per round, {args.rounds} ABBA rounds, batch {args.batch_size}; "
          f"raw SentenceTransformer.encode: {rows['torch']['reference_docs_per_second']:.1f} docs/s, "
          f"single query {1000 * statistics.median(reference_latency):.1f} ms")
    print(f"{'backend':<10} {'docs/s':>7} {'x torch':>8} {'query ms':>9} {'nDCG@10':>8} {'MAP':>7} {'export s':>9}")
    for backend, row in rows.items():
        quality = (f"{row['ndcg@10']:>8.4f} {row['map']:>7.4f}" if "ndcg@10" in row else f"{'-':>8} {'-':>7}")
        print(f"{backend:<10} {row['docs_per_second']:>7.1f} {row['throughput_ratio']:>8.2f} "
              f"{row['latency_ms_median']:>9.1f} {quality} {row['load_seconds']:>9.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "encode.json").write_text(json.dumps({"batch_size": args.batch_size, "sample": len(sample),
                                                      "rounds": args.rounds, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
