"""How fast textmetric.evaluate scores a run, against pytrec_eval (trec_eval's C code) on the same run.

Synthetic: 300 queries of 1,000 retrieved documents each and 20 judgments per query (grades
0–3), the default metrics. Times are medians of ABBA-interleaved rounds, reported as a ratio
(pytrec_eval seconds / textmetric seconds: above 1 means textmetric is faster), because the
machine is shared and noisy.

    python benchmarks/evaluate_speed.py [--queries 300] [--docs 1000] [--rounds 6]
"""

from __future__ import annotations

import argparse
import random
import sys

from common import interleaved_seconds

# pytrec_eval's names for textmetric's DEFAULT_METRICS (map, map@100, ndcg@10, mrr@10, recall@100, p@10);
# trec_eval has no cut-off form of recip_rank, so the full ranking's stands in for mrr@10.
TREC_MEASURES = {"map", "map_cut_100", "ndcg_cut_10", "recip_rank", "recall_100", "P_10"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--docs", type=int, default=1000, help="retrieved documents per query")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    try:
        import pytrec_eval
    except ImportError:
        print("skipped: pytrec_eval is not installed (pip install -e '.[test]')")
        return 0
    from textmetric import DEFAULT_METRICS, evaluate

    rng = random.Random(0)
    run = {f"q{i}": {f"d{j}": rng.random() for j in range(args.docs)} for i in range(args.queries)}
    qrels = {f"q{i}": {f"d{rng.randrange(2 * args.docs)}": rng.randint(0, 3) for _ in range(20)}
             for i in range(args.queries)}
    reference = pytrec_eval.RelevanceEvaluator(qrels, TREC_MEASURES)
    trec_s, ours_s = interleaved_seconds(lambda: reference.evaluate(run),
                                         lambda: evaluate(run, qrels, DEFAULT_METRICS), args.rounds)
    print(f"{args.queries} queries x {args.docs} documents, {args.rounds} ABBA rounds (medians)")
    print(f"pytrec_eval          {trec_s * 1000:8.1f} ms")
    print(f"textmetric.evaluate  {ours_s * 1000:8.1f} ms")
    print(f"ratio (pytrec_eval / textmetric) {trec_s / ours_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
