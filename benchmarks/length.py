"""What reading documents at 512 tokens instead of 256 costs to encode, per backend, on SciFact.

71 % of SciFact's abstracts are longer than all-MiniLM-L6-v2's default 256 tokens, and the
default training recipe trains and indexes at 512. For each backend, documents per second on
a seeded sample of the corpus at 512 tokens as a ratio to the same backend at 256, timed in
interleaved ABBA rounds (machine drift hits both sides alike). Queries are short either way.

    python benchmarks/length.py                  # torch and onnx-int8, 256 documents, 4 rounds
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from common import RESULTS, SCIFACT, have_scifact, interleaved_seconds

BACKENDS = ("torch", "onnx-int8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=256, help="documents timed per round")
    parser.add_argument("--rounds", type=int, default=4, help="ABBA rounds per backend (even)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", choices=BACKENDS, action="append", help="default: all of them")
    args = parser.parse_args()
    if not have_scifact():
        return 0
    from textmetric import Encoder, encode, load_beir

    data = load_beir(SCIFACT, "test")
    texts = [data.corpus[i].full_text for i in data.corpus]
    sample = random.Random(0).sample(texts, min(args.sample, len(texts)))
    rows = {}
    for backend in args.backend or BACKENDS:
        short, long = Encoder.load(backend=backend, max_seq_length=256), Encoder.load(backend=backend,
                                                                                      max_seq_length=512)
        for model in (short, long):
            encode(model, sample[:8], batch_size=args.batch_size)  # warm-up (first-call allocations)
        seconds_256, seconds_512 = interleaved_seconds(lambda: encode(short, sample, batch_size=args.batch_size),
                                                       lambda: encode(long, sample, batch_size=args.batch_size),
                                                       args.rounds)
        rows[backend] = {"docs_per_second_256": len(sample) / seconds_256,
                         "docs_per_second_512": len(sample) / seconds_512, "cost_ratio": seconds_512 / seconds_256}
        print(f"{backend}: {json.dumps(rows[backend])}", file=sys.stderr, flush=True)
    print(f"SciFact: {len(sample)} documents per round, {args.rounds} ABBA rounds, batch {args.batch_size}")
    print(f"{'backend':<10} {'docs/s at 256':>14} {'docs/s at 512':>14} {'time x':>7}")
    for backend, row in rows.items():
        print(f"{backend:<10} {row['docs_per_second_256']:>14.1f} {row['docs_per_second_512']:>14.1f} "
              f"{row['cost_ratio']:>7.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "length.json").write_text(json.dumps({"batch_size": args.batch_size, "sample": len(sample),
                                                     "rounds": args.rounds, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
