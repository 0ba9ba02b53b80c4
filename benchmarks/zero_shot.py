"""Zero-shot retrieval of the default model on BEIR SciFact (test), by exact search.

Reproduces the published all-MiniLM-L6-v2 figure (nDCG@10 = 0.645, MTEB) and
measures textmetric's encoding overhead against raw ``SentenceTransformer.encode``
on the same texts, in the same run (a ratio, since the machine is shared and noisy).

    python benchmarks/zero_shot.py [--data ../shared/data/scifact] [--overhead-docs 256] [--overhead-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import RESULTS, SCIFACT, have_scifact, interleaved_seconds

PUBLISHED_NDCG10 = 0.645


def encode_overhead(model, texts: list[str], rounds: int) -> dict[str, float]:
    """Median seconds of raw ``model.encode`` and of ``textmetric.Encoder.encode`` (ABBA-interleaved), and their
    ratio."""
    from textmetric import Encoder

    encoder = Encoder.of(model)  # one encoder, as a command has: its truncation warning comes once
    raw_s, ours_s = interleaved_seconds(
        lambda: model.encode(texts, batch_size=32, show_progress_bar=False, convert_to_numpy=True),
        lambda: encoder.encode(texts, batch_size=32), rounds)
    return {"raw_encode_s": raw_s, "textmetric_encode_s": ours_s, "ratio": ours_s / raw_s,
            "docs": len(texts), "rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SCIFACT)
    parser.add_argument("--overhead-docs", type=int, default=256, help="documents timed for the overhead ratio")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--overhead-only", action="store_true", help="measure only the encoding overhead")
    parser.add_argument("--out", type=Path, default=RESULTS / "zero_shot.json")
    args = parser.parse_args()
    if not have_scifact(args.data):
        return 0

    from textmetric import ExactIndex, Retriever, evaluate_retriever, load_beir, load_model
    from textmetric.encoding import show_progress

    data = load_beir(args.data, "test")
    model = load_model()
    progress = show_progress()
    texts = [doc.full_text for doc in data.corpus.values()]
    overhead = encode_overhead(model, texts[: args.overhead_docs], args.rounds)
    if args.overhead_only:
        print(f"encode overhead: textmetric.encode / SentenceTransformer.encode = {overhead['ratio']:.3f} "
              f"(median of {args.rounds} ABBA-interleaved rounds over {overhead['docs']} documents)")
        return 0 if overhead["ratio"] <= 1.05 else 1

    start = time.perf_counter()
    index = ExactIndex.build(model, data.corpus, progress=progress)
    encode_s = time.perf_counter() - start
    evaluation, _ = evaluate_retriever(Retriever(model, index), data.queries, data.qrels, k=1000)
    means = evaluation.means

    print(f"all-MiniLM-L6-v2 on SciFact test, exact search ({evaluation.num_queries} queries, "
          f"{len(data.corpus)} documents, max_seq_length {model.max_seq_length})")
    for name, value in means.items():
        print(f"  {name:<11} {value:.4f}")
    print(f"  corpus encoded in {encode_s:.0f} s ({len(texts) / encode_s:.1f} docs/s)")
    print(f"encode overhead: textmetric.encode / SentenceTransformer.encode = {overhead['ratio']:.3f} "
          f"(median of {args.rounds} ABBA-interleaved rounds over {overhead['docs']} documents; target <= 1.05)")
    ok_ndcg = abs(means["ndcg@10"] - PUBLISHED_NDCG10) <= 0.005
    ok_overhead = overhead["ratio"] <= 1.05
    print(f"nDCG@10 {means['ndcg@10']:.4f} vs published {PUBLISHED_NDCG10} (+/- 0.005): "
          f"{'OK' if ok_ndcg else 'MISSED'}; overhead: {'OK' if ok_overhead else 'MISSED'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"metrics": means, "num_queries": evaluation.num_queries,
                                    "encode_seconds": encode_s, "overhead": overhead}, indent=2))
    return 0 if ok_ndcg and ok_overhead else 1


if __name__ == "__main__":
    sys.exit(main())
