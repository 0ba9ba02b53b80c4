"""textmetric's HNSW index against raw hnswlib and exact search, side by side in one run.

Two collections: the SciFact corpus embedded by all-MiniLM-L6-v2 (5,183 x 384),
and 200,000 synthetic 384-d unit vectors drawn around 2,000 Gaussian centres
(uniform random vectors are pathological for any graph index and measure
nothing useful about recall). For each: build time and query time of
textmetric's ``Index`` as a ratio to raw hnswlib with the same parameters
(targets <= 1.05 and <= 1.10; queries are timed on the same graph, since two
multi-threaded builds give graphs whose speed differs by luck alone), recall@10 against exact search over
ef in {10, 20, 50, 100, 200} with queries per second, and on SciFact the test
nDCG@10 through the index against exact search (target: within 0.002).

    python benchmarks/ann.py [--synthetic 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from common import RESULTS, SCIFACT, cached_embeddings, have_scifact, interleaved_seconds

EFS = (10, 20, 50, 100, 200)


def mixture(n: int, queries: int, dim: int, centres: int, spread: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors scattered around random centres, clustered like real embeddings; queries drawn alike."""
    rng = np.random.default_rng(0)
    means = rng.normal(size=(centres, dim)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        points = means[rng.integers(0, centres, size=count)]
        points = points + spread * rng.normal(size=(count, dim)).astype(np.float32)
        return np.ascontiguousarray(points / np.linalg.norm(points, axis=1, keepdims=True), dtype=np.float32)

    return draw(n), draw(queries)


def raw_build(vectors: np.ndarray, m: int, ef_construction: int):
    import hnswlib

    graph = hnswlib.Index(space="cosine", dim=vectors.shape[1])
    graph.init_index(max_elements=len(vectors), M=m, ef_construction=ef_construction, random_seed=100)
    graph.add_items(vectors, np.arange(len(vectors)))
    return graph


def ours_build(vectors: np.ndarray, ids: list[str], m: int, ef_construction: int):
    from textmetric.index import Index

    index = Index(vectors.shape[1], "cosine", m=m, ef_construction=ef_construction, capacity=len(vectors))
    index.add(ids, vectors)
    return index


def recall_at(found: list[list[str]], truth: list[list[str]]) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def compare(name: str, vectors: np.ndarray, queries: np.ndarray, rounds: int, build_rounds: int) -> dict:
    """Build and query ratios against raw hnswlib, and the recall / QPS curve, for one collection."""
    from textmetric.index import DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M
    from textmetric.index import ExactIndex

    ids = [f"v{i}" for i in range(len(vectors))]
    m, efc = DEFAULT_M, DEFAULT_EF_CONSTRUCTION
    raw_times, our_times = [], []
    for round_number in range(build_rounds):  # ABBA order, so drift on a shared machine hits both alike
        for side in ("raw", "ours") if round_number % 2 == 0 else ("ours", "raw"):
            start = time.perf_counter()
            if side == "raw":
                raw = raw_build(vectors, m, efc)
                raw_times.append(time.perf_counter() - start)
            else:
                ours = ours_build(vectors, ids, m, efc)
                our_times.append(time.perf_counter() - start)
    build_ratio = float(np.median(our_times) / np.median(raw_times))

    exact = ExactIndex(ids, vectors)
    truth = [[d for d, _ in hits] for hits in exact.search(queries, 10)]
    rows = []
    graph = ours.vectors.graph  # the hnswlib graph inside textmetric's index

    def raw_on_our_graph():
        graph.set_ef(ef)
        graph.knn_query(queries, k=10)

    for ef in EFS:
        raw.set_ef(ef)
        ours.ef = ef
        # The overhead of textmetric's search: raw hnswlib on the very same graph against Index.search.
        # (Two builds give two graphs -- hnswlib inserts on several threads -- whose speed differs by
        # graph luck alone, +-15 % here; the separately built graph's QPS is shown for reference.)
        same_s, our_s = interleaved_seconds(raw_on_our_graph, lambda: ours.search(queries, 10), rounds)
        raw_s, _ = interleaved_seconds(lambda: raw.knn_query(queries, k=10), lambda: None, rounds)
        labels, _ = raw.knn_query(queries, k=10)
        rows.append({
            "ef": ef,
            "recall@10": recall_at([[d for d, _ in h] for h in ours.search(queries, 10)], truth),
            "raw_recall@10": recall_at([[ids[i] for i in row] for row in labels.tolist()], truth),
            "qps": len(queries) / our_s, "raw_same_graph_qps": len(queries) / same_s,
            "raw_qps": len(queries) / raw_s, "query_ratio": our_s / same_s,
        })
    ours.ef = DEFAULT_EF
    default = next(r for r in rows if r["ef"] == DEFAULT_EF)
    print(f"\n{name}: {len(vectors)} vectors x {vectors.shape[1]}, {len(queries)} queries, M={m}, "
          f"ef_construction={efc}, default ef={DEFAULT_EF}")
    print(f"  build: textmetric {np.median(our_times):.2f} s, hnswlib {np.median(raw_times):.2f} s, "
          f"ratio {build_ratio:.3f} (target <= 1.05)")
    print(f"  {'ef':>4} {'recall@10':>10} {'hnswlib':>8} {'QPS':>9} {'hnswlib QPS':>12} {'ratio':>6} "
          f"{'own-build QPS':>14}")
    for r in rows:
        print(f"  {r['ef']:>4} {r['recall@10']:>10.4f} {r['raw_recall@10']:>8.4f} {r['qps']:>9.0f} "
              f"{r['raw_same_graph_qps']:>12.0f} {r['query_ratio']:>6.3f} {r['raw_qps']:>14.0f}")
    print(f"  query time ratio at the default ef: {default['query_ratio']:.3f} (target <= 1.10; textmetric's "
          f"Index.search against hnswlib's knn_query on the same graph)")
    return {"build_ratio": build_ratio, "build_seconds": float(np.median(our_times)),
            "raw_build_seconds": float(np.median(raw_times)), "curve": rows, "index": ours}


def scifact_quality(index, model) -> dict:
    """Test nDCG@10 and MAP through the HNSW index and by exact search, on the same embeddings."""
    from textmetric import evaluate, load_beir
    from textmetric.index import ExactIndex

    data = load_beir(SCIFACT, "test")
    qids = list(data.queries)
    queries = cached_embeddings(model, [data.queries[q] for q in qids], "scifact-test-queries", progress=False)
    ids = [f"v{i}" for i in range(len(data.corpus))]
    doc_ids = list(data.corpus)
    to_doc = dict(zip(ids, doc_ids))
    exact = ExactIndex(ids, index.embeddings(ids))
    out = {}
    for label, searcher in (("exact", exact), ("hnsw", index)):
        hits = searcher.search(queries, 1000)
        run = {q: {to_doc[d]: s for d, s in h} for q, h in zip(qids, hits)}
        out[label] = evaluate(run, data.qrels, ["ndcg@10", "map"]).means
    delta = out["hnsw"]["ndcg@10"] - out["exact"]["ndcg@10"]
    print(f"  SciFact test nDCG@10: exact {out['exact']['ndcg@10']:.4f}, HNSW {out['hnsw']['ndcg@10']:.4f} "
          f"(difference {delta:+.4f}, target within 0.002); MAP exact {out['exact']['map']:.4f}, "
          f"HNSW {out['hnsw']['map']:.4f}")
    return {**out, "ndcg@10_difference": delta}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=200_000, help="synthetic vectors (0 to skip)")
    parser.add_argument("--centres", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=1000, help="synthetic queries")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds per query measurement")
    parser.add_argument("--build-rounds", type=int, default=2, help="timed builds of the synthetic index per side")
    args = parser.parse_args()
    results: dict = {}
    ok = True
    if have_scifact():
        from textmetric import load_beir, load_model

        model = load_model()
        corpus = load_beir(SCIFACT, "test").corpus
        vectors = cached_embeddings(model, [d.full_text for d in corpus.values()], "scifact-corpus")
        queries = cached_embeddings(model, list(load_beir(SCIFACT, "test").queries.values()),
                                    "scifact-test-queries", progress=False)
        # 300 test queries take milliseconds: repeat them so each timing is long enough to measure.
        sci = compare("SciFact corpus (all-MiniLM-L6-v2)", vectors, np.tile(queries, (10, 1)), args.rounds,
                      build_rounds=4)
        sci["quality"] = scifact_quality(sci.pop("index"), model)
        results["scifact"] = sci
        default = next(r for r in sci["curve"] if r["ef"] == 100)
        ok &= default["recall@10"] >= 0.99 and abs(sci["quality"]["ndcg@10_difference"]) <= 0.002
        ok &= sci["build_ratio"] <= 1.05 and default["query_ratio"] <= 1.10
    if args.synthetic:
        vectors, queries = mixture(args.synthetic, args.queries, 384, args.centres)
        syn = compare(f"synthetic mixture ({args.centres} centres)", vectors, queries, args.rounds,
                      build_rounds=args.build_rounds)
        syn.pop("index")
        results["synthetic"] = syn
        default = next(r for r in syn["curve"] if r["ef"] == 100)
        ok &= syn["build_ratio"] <= 1.05 and default["query_ratio"] <= 1.10
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ann.json").write_text(json.dumps(results, indent=2, default=float))
    print("\nall targets met" if ok else "\nsome targets missed (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
