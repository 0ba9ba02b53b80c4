"""Which fusion should hybrid search use by default? Candidates compared across collections, chosen on train.

For each collection -- BEIR SciFact and the Python standard-library collection (both with
the zero-shot default model; SciFact also with ``--finetuned DIR``) -- dense hits (exact
search) and BM25 hits (textmetric's lexical side) of every query, fused by each candidate
default: reciprocal rank fusion (k = 60, Cormack, Clarke and Buettcher 2009) and convex
score fusion at several alphas (Bruch, Gai and Ingber, "An Analysis of Fusion Functions
for Hybrid Retrieval", 2023), both over the top 100 of each side (the default depth).

The decision reads only *train* queries (SciFact's train split, or the dev split a
fine-tuned model held out of it; the stdlib collection's train split): the candidate with
the best mean train nDCG@10 over the collections, except that a candidate within ``TIE``
(0.01) of that best and nearer alpha 0.5 wins: equal weights build in no collection's
preference, and a difference that small between two collections that disagree is no
evidence for one. Test nDCG@10 is printed beside it as the figure users will meet, never
used to choose.

    python benchmarks/fusion.py [--finetuned MODEL_DIR] [--quick]

--quick uses the stdlib collection's quick slice and 100 SciFact train queries; no result file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from common import RESULTS, SCIFACT, cached_embeddings, have_scifact
from hybrid import RUN_K, fuse, scores

ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
DEPTH = 100
TIE = 0.01  # mean train nDCG@10 within which candidates count as equal


def candidates() -> list[dict]:
    return [{"fusion": "rrf", "rrf_k": 60, "depth": DEPTH}] + [
        {"fusion": "score", "alpha": alpha, "depth": DEPTH} for alpha in ALPHAS]


def name(setting: dict) -> str:
    return f"rrf k={setting['rrf_k']}" if setting["fusion"] == "rrf" else f"score alpha={setting['alpha']}"


def sides(model, lexical, corpus_ids: list[str], vectors, queries: dict, cache: str) -> tuple[list, list]:
    """Each query's dense hits (exact search over ``vectors``) and BM25 hits, to depth RUN_K."""
    from textmetric.index import ExactIndex, space_of

    query_vectors = cached_embeddings(model, list(queries.values()), cache, progress=False, role="query")
    dense = ExactIndex(corpus_ids, vectors, space_of(model)).search(query_vectors, RUN_K)
    return dense, lexical.search(list(queries.values()), RUN_K)


def collection_rows(tag: str, model, corpus: dict, tune, test, cache: str) -> dict:
    """Train and test nDCG@10 of every candidate on one collection (``tune``/``test``: queries and qrels)."""
    from textmetric.index.lexical import LexicalIndex

    corpus_ids = list(corpus)
    texts = [corpus[d].full_text for d in corpus_ids]
    lexical = LexicalIndex.build(corpus_ids, texts)
    vectors = cached_embeddings(model, texts, f"{cache}-corpus")
    out = {"train_queries": len(tune[0]), "test_queries": len(test[0]), "candidates": {}}
    parts = {"train": sides(model, lexical, corpus_ids, vectors, tune[0], f"{cache}-tune-queries"),
             "test": sides(model, lexical, corpus_ids, vectors, test[0], f"{cache}-test-queries")}
    for split, (dense, lex) in parts.items():
        qrels = (tune if split == "train" else test)[1]
        qids = list((tune if split == "train" else test)[0])
        out[f"dense_{split}"] = scores(dense, qids, qrels)["ndcg@10"]
        out[f"bm25_{split}"] = scores(lex, qids, qrels)["ndcg@10"]
        for setting in candidates():
            out["candidates"].setdefault(name(setting), {})[split] = scores(fuse(dense, lex, setting), qids,
                                                                            qrels)["ndcg@10"]
    print(f"  {tag}: {len(corpus_ids):,} documents, {len(tune[0])} train / {len(test[0])} test queries",
          file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--finetuned", metavar="MODEL_DIR", help="a fine-tuned SciFact model for one more column")
    parser.add_argument("--quick", action="store_true", help="smaller slices; no result file")
    args = parser.parse_args()
    if not have_scifact():
        return 0
    from textmetric import load_beir, load_model
    from textmetric.demo.stdlib import QUICK_MODULES, stdlib
    from textmetric.training.config import TrainConfig
    from textmetric.training.training_set import _split

    start = time.perf_counter()
    model = load_model()
    test, train = load_beir(SCIFACT, "test"), load_beir(SCIFACT, "train")
    train_ids = sorted(train.queries)[:100] if args.quick else sorted(train.queries)
    collections = {"SciFact zero-shot": collection_rows(
        "SciFact zero-shot", model, dict(test.corpus), ({q: train.queries[q] for q in train_ids}, train.qrels),
        (dict(test.queries), test.qrels), "scifact")}
    modules = QUICK_MODULES if args.quick else None
    lib_train, lib_test = stdlib("train", modules=modules), stdlib("test", modules=modules)
    collections["stdlib zero-shot"] = collection_rows(
        "stdlib zero-shot", model, dict(lib_test.corpus), (dict(lib_train.queries), lib_train.qrels),
        (dict(lib_test.queries), lib_test.qrels), "stdlib-quick" if args.quick else "stdlib")
    if args.finetuned:
        config = TrainConfig()
        _, dev = _split(sorted(train.queries), config.dev_fraction, config.seed)
        collections["SciFact fine-tuned (dev)"] = collection_rows(
            "SciFact fine-tuned", load_model(args.finetuned), dict(test.corpus),
            ({q: train.queries[q] for q in dev}, train.qrels), (dict(test.queries), test.qrels), "scifact-ft")

    names = [name(s) for s in candidates()]
    mean_train = {n: sum(c["candidates"][n]["train"] for c in collections.values()) / len(collections) for n in names}
    best = max(mean_train.values())
    tied = [s for s in candidates() if mean_train[name(s)] >= best - TIE]
    chosen = name(min(tied, key=lambda s: (s["fusion"] != "score", abs(s.get("alpha", 0.5) - 0.5),
                                           -mean_train[name(s)])))
    tags = list(collections)
    print(f"\nnDCG@10, train (chooses) / test (reported); depth {DEPTH}; {time.perf_counter() - start:.0f} s")
    width = max(len(t) for t in tags) + 2
    print(f"{'candidate':<16}" + "".join(f"{t:>{width + 4}}" for t in tags) + f"{'mean train':>12}")
    for label, key in (("dense", "dense"), ("BM25", "bm25")):
        print(f"{label:<16}" + "".join(f"{collections[t][key + '_train']:>{width - 4}.4f} /{collections[t][key + '_test']:.4f}"
                                       for t in tags))
    for n in names:
        cells = "".join(f"{collections[t]['candidates'][n]['train']:>{width - 4}.4f} /"
                        f"{collections[t]['candidates'][n]['test']:.4f}" for t in tags)
        print(f"{n:<16}{cells}{mean_train[n]:>12.4f}{'  <- chosen' if n == chosen else ''}")
    print(f"chosen: the best mean train nDCG@10 ({best:.4f}), or within {TIE} of it the candidate nearest "
          f"equal weights (score fusion, alpha 0.5)")
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fusion.json").write_text(json.dumps({"collections": collections, "mean_train": mean_train,
                                                         "chosen": chosen, "depth": DEPTH}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
