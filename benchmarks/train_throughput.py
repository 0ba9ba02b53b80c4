"""Training throughput of `textmetric train` against the sentence-transformers trainer used directly.

Both train all-MiniLM-L6-v2 with mnrl (the default loss) on the same SciFact (query, positive,
mined negative) rows, batch 32, no duplicate texts per batch, one pass, no evaluation, a checkpoint at the end
of the epoch (what `--resume` needs; the direct run saves one too); only ``trainer.train()`` is
timed (textmetric's ``train_seconds`` covers the same call). An untimed run warms up first; then
runs alternate ABBA so machine drift hits both sides alike. Target: ratio >= 0.95.

    python benchmarks/train_throughput.py [--steps 8] [--rounds 2] [--max-seq-length 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, have_scifact


def rows_file(folder: Path, count: int) -> Path:
    """The first ``count`` (query, positive, negative) rows of SciFact train, negatives mined as in
    benchmarks/finetune_scifact.py (the cached file if it is there)."""
    from finetune_scifact import mined_negatives

    from textmetric import load_model

    mined = mined_negatives(load_model())
    path = folder / "rows.jsonl"
    with open(mined, encoding="utf-8") as source, open(path, "w", encoding="utf-8") as out:
        seen = set()
        for line in source:
            record = json.loads(line)
            if record["query_id"] in seen:  # one negative per query, like the default recipe
                continue
            seen.add(record["query_id"])
            out.write(json.dumps({"anchor": record["anchor"], "positive": record["positive"],
                                  "negative": record["negative"]}) + "\n")
            if len(seen) == count:
                break
    return path


def textmetric_seconds(path: Path, out: Path, max_seq_length: int) -> float:
    from textmetric import TrainConfig, fine_tune

    # like for like: sentence-transformers' trainer computes in fp32 with the model's attention dropout, while
    # textmetric's defaults use bf16 where native and no attention dropout (see training/throughput.py)
    config = TrainConfig(loss="mnrl", epochs=1, batch_size=32, lr=2e-5, dev_fraction=0.0,
                         max_seq_length=max_seq_length, hard_negatives=None, precision="fp32",
                         attention_dropout=None)
    return fine_tune(path, out, config=config)["train_seconds"]


def direct_seconds(path: Path, out: Path, max_seq_length: int) -> float:
    """The same run written against sentence-transformers alone."""
    from datasets import load_dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import set_seed

    from textmetric.encoding import default_model_path

    set_seed(42)
    model = SentenceTransformer(default_model_path(), device="cpu")
    model.max_seq_length = max_seq_length
    dataset = load_dataset("json", data_files=str(path), split="train")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out), num_train_epochs=1, per_device_train_batch_size=32, learning_rate=2e-5,
        warmup_steps=0.1, seed=42, data_seed=42, batch_sampler=BatchSamplers.NO_DUPLICATES,
        eval_strategy="no", save_strategy="epoch", save_total_limit=2, report_to=[], use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0, logging_steps=10)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model))
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="batches of 32 per run")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args()
    if not have_scifact():
        return 0
    os.environ["HF_HUB_OFFLINE"] = "1"
    times: dict[str, list[float]] = {"textmetric": [], "sentence-transformers": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = rows_file(folder, 32 * args.steps)
        (folder / "warm").mkdir()
        textmetric_seconds(rows_file(folder / "warm", 32), folder / "warm-up", args.max_seq_length)  # untimed
        run = 0
        for round_number in range(args.rounds):
            order = ("textmetric", "sentence-transformers")
            for side in order if round_number % 2 == 0 else order[::-1]:
                run += 1
                out = folder / f"run{run}"
                seconds = (textmetric_seconds if side == "textmetric" else direct_seconds)(
                    path, out, args.max_seq_length)
                times[side].append(seconds)
                print(f"{side}: {seconds:.1f} s", file=sys.stderr, flush=True)
    ours, theirs = statistics.median(times["textmetric"]), statistics.median(times["sentence-transformers"])
    result = {"steps": args.steps, "batch_size": 32, "max_seq_length": args.max_seq_length,
              "rounds": args.rounds, "seconds": times, "throughput_ratio": theirs / ours}
    print(f"{args.steps} steps of mnrl, batch 32, max_seq_length {args.max_seq_length}: textmetric "
          f"{ours:.1f} s, sentence-transformers trainer {theirs:.1f} s (medians of {args.rounds}); "
          f"throughput ratio {theirs / ours:.3f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_throughput.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
