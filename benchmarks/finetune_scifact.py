"""Fine-tune all-MiniLM-L6-v2 on SciFact train with each objective; report test nDCG@10, MAP and time.

Each objective is one run (they take minutes to tens of minutes on a 2-core CPU),
so results accumulate in benchmarks/results/finetune_scifact.json and the table
prints whatever has been measured so far. Hyper-parameters are chosen on the dev
split that ``fine_tune`` carves from the training queries (10 %, seed 42); the
test split is only ever used for the final report.

    python benchmarks/finetune_scifact.py --objective zero-shot   # the starting model, no training
    python benchmarks/finetune_scifact.py --objective mnrl-hard
    python benchmarks/finetune_scifact.py --table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import RESULTS, SCIFACT, cached_embeddings, have_scifact

OBJECTIVES = {
    # name: (loss, uses mined hard negatives, extra TrainConfig fields); "auto" mines them inside fine_tune
    # (needed where mining is part of the lever: a margin, re-mining), True from the cached zero-shot file
    "contrastive": ("contrastive", True, {}),
    "triplet": ("triplet", True, {}),
    "batch-hard": ("batch-hard", False, {}),
    "mnrl": ("mnrl", False, {}),
    "mnrl-hard": ("mnrl", True, {}),
    # a linear map W on the frozen encoder's outputs, trained with the triplet loss over mined negatives
    "linear": ("triplet", True, {"adapter": "linear"}),
    # issue 16's levers, each one row on top of mnrl-hard (3 epochs): compare test nDCG@10 overall and unseen
    # (--seen-split) with zero-shot and mnrl-hard
    "wise-ft": ("mnrl", True, {"interpolation": "auto"}),  # WiSE-FT, λ chosen on dev
    # false negatives dropped within 5 % of the positive's similarity, four negatives per pair side by side
    "clean-negatives": ("mnrl", "auto", {"relative_margin": 0.05, "negatives_per_pair": 4}),
    "remine": ("mnrl", "auto", {"remine": True}),  # ANCE: negatives mined again by the model before epochs 2, 3
    # GradCache: 128 in-batch negatives per step in the memory of 32 (run with --batch-size 128)
    "cached-mnrl": ("cached-mnrl", True, {"mini_batch_size": 32}),
    # inverse cloze pairs from the ~4,000 documents no train query judges (SciFact's test documents among them)
    "pseudo-queries": ("mnrl", True, {"pseudo_queries": 2000}),
    "max-len-512": ("mnrl", True, {"max_seq_length": 512}),  # MiniLM's 256 default truncates long abstracts
    # TrainConfig's defaults exactly, mining included, as `textmetric train --data DIR --output M` runs;
    # --set NAME=VALUE changes one setting of it (a lever measured on top of the default)
    "default": (None, "auto", {}),
}
TABLE = RESULTS / "finetune_scifact.json"
ZERO_SHOT = "zero-shot"  # the starting model scored by the same code, with no training


def mined_negatives(model, negatives: int = 5, skip_top: int = 3, max_rank: int = 50) -> Path:
    """Hard negatives of the train queries from the zero-shot model (cached corpus embeddings), as triplets."""
    from textmetric import load_beir
    from textmetric.training.mining import mine_hard_negatives, write_triplets
    from textmetric.index import ExactIndex

    path = RESULTS / f"scifact-train-negatives-{negatives}-{skip_top}-{max_rank}.jsonl"
    if path.exists():
        return path
    data = load_beir(SCIFACT, "train")
    ids = list(data.corpus)
    embeddings = cached_embeddings(model, [data.corpus[i].full_text for i in ids], "scifact-corpus")
    mined = mine_hard_negatives(model, ExactIndex(ids, embeddings), data.queries, data.qrels, negatives=negatives,
                                skip_top=skip_top, max_rank=max_rank)
    write_triplets(path, data.queries, data.corpus, data.qrels, mined)
    return path


def corpus_index(model, model_dir: Path | None, ids: list[str], texts: list[str]):
    """Exact search over the corpus for ``model`` (loaded from ``model_dir``; None = zero-shot).

    An adapter model's corpus vectors are W times the frozen encoder's cached ones: what
    `textmetric reproject` does to an index, without re-encoding.
    """
    from textmetric import ExactIndex, load_model
    from textmetric.training.adapter import adapter_matrix
    from textmetric.index import space_of

    log = None if model_dir is None else model_dir / "training_log.json"
    if log is not None and log.exists() and json.loads(log.read_text())["config"].get("adapter"):
        embeddings = cached_embeddings(load_model(), texts, "scifact-corpus") @ adapter_matrix(model).T
    else:
        embeddings = cached_embeddings(model, texts, "scifact-corpus")
    return ExactIndex(ids, embeddings, space_of(model))


def seen_split(rows: list[dict]) -> None:
    """Test nDCG@10 apart for queries whose relevant documents some train query also has (seen) and the rest.

    SciFact's splits share one corpus: 181 of the 283 documents relevant to test queries are
    relevant to train queries too. A model can gain on those by learning the documents, not
    the task; the unseen queries show what carries over to documents never trained on.
    """
    from textmetric import Retriever, evaluate, load_beir, load_model

    data, seen = load_beir(SCIFACT, "test"), seen_queries()
    ids = list(data.corpus)
    texts = [data.corpus[i].full_text for i in ids]
    print(f"\ntest nDCG@10 by query: seen = some relevant document is also relevant to a train query "
          f"({len(seen)} queries), unseen = none is ({len(data.qrels) - len(seen)})")
    print(f"{'model':<34} {'all':>7} {'seen':>7} {'unseen':>7}")
    models = [("zero-shot all-MiniLM-L6-v2", None)] + [
        (f"{r['objective']} (e{r['config']['epochs']:g})", Path(r["model"])) for r in rows if r["config"]]
    for name, folder in models:
        if folder is not None and not folder.exists():
            continue
        model = load_model(folder)
        index = corpus_index(model, folder, ids, texts)
        run = Retriever(model, index).search(data.queries, k=1000)
        scores = evaluate(run, data.qrels, ["ndcg@10"]).per_query
        mean = lambda qs: sum(scores[q]["ndcg@10"] for q in qs) / len(qs)  # noqa: E731
        unseen = set(data.qrels) - seen
        print(f"{name:<34} {mean(set(data.qrels)):>7.4f} {mean(seen):>7.4f} {mean(unseen):>7.4f}")


def seen_queries() -> set[str]:
    """Test queries with a relevant document that some train query also has (see :func:`seen_split`)."""
    from textmetric import load_beir

    train, data = load_beir(SCIFACT, "train"), load_beir(SCIFACT, "test")
    trained_on = {d for judged in train.qrels.values() for d, g in judged.items() if g > 0}
    return {q for q, judged in data.qrels.items() if any(g > 0 and d in trained_on for d, g in judged.items())}


def test_scores(model_dir: Path | None) -> dict:
    """Test nDCG@10 and MAP by exact search over the whole corpus, with the fine-tuned model (None: zero-shot),
    and nDCG@10 over the seen and the unseen test queries apart."""
    from textmetric import Retriever, evaluate_retriever, load_beir, load_model

    data = load_beir(SCIFACT, "test")
    model = load_model(model_dir)  # None: the starting model
    ids = list(data.corpus)
    retriever = Retriever(model, corpus_index(model, model_dir, ids, [data.corpus[i].full_text for i in ids]))
    evaluation, _ = evaluate_retriever(retriever, data.queries, data.qrels, k=1000, metrics=["ndcg@10", "map"])
    seen = seen_queries()
    by_query = {q: scores["ndcg@10"] for q, scores in evaluation.per_query.items()}
    mean = lambda qs: sum(by_query[q] for q in qs) / len(qs)  # noqa: E731
    return {**evaluation.means, "ndcg@10 seen": mean(seen), "ndcg@10 unseen": mean(set(data.qrels) - seen)}


def run(objective: str, epochs: float | None, lr: float, batch_size: int, negatives_per_pair: int,
        max_seq_length: int | None, changes: dict | None = None) -> dict:
    from textmetric import TrainConfig, fine_tune, load_model

    if objective == ZERO_SHOT:
        return {"objective": objective, "config": None, "train_seconds": None, "wall_seconds": None,
                "initial_dev": None, "best_dev": None, "test": test_scores(None), "model": None}
    if objective == "default":
        return run_default(epochs, changes or {})
    loss, hard, extra = OBJECTIVES[objective]
    epochs = 1.0 if epochs is None else epochs
    if objective == "linear" and lr == 2e-5:  # the encoder's rate barely moves a fresh W
        lr = 1e-3
    settings = dict(loss=loss, epochs=epochs, lr=lr, batch_size=batch_size, max_seq_length=max_seq_length,
                    negatives_per_pair=negatives_per_pair)
    # "auto" (TrainConfig's default) mines exactly the cached file's negatives afresh; the file saves
    # re-encoding the corpus for every objective. Objectives without them train on none.
    if hard is True:
        settings["hard_negatives"] = str(mined_negatives(load_model(), negatives=max(5, negatives_per_pair)))
    else:
        settings["hard_negatives"] = "auto" if hard == "auto" else None
    config = TrainConfig(**{**settings, **extra})
    out = RESULTS / "models" / f"{objective}-e{epochs:g}-lr{lr:g}-b{batch_size}-n{negatives_per_pair}"
    start = time.perf_counter()
    log = fine_tune(SCIFACT, out, config=config, progress=sys.stderr.isatty())
    wall = time.perf_counter() - start
    scores = test_scores(out)
    return {"objective": objective, "config": log["config"], "train_seconds": log["train_seconds"],
            "wall_seconds": wall, "initial_dev": log["initial_dev"], "best_dev": log["best_metric"],
            "test": scores, "model": str(out)}


def run_default(epochs: float | None, changes: dict) -> dict:
    """TrainConfig's defaults (with ``changes``), mining included, timed from start to saved model."""
    from textmetric import TrainConfig, fine_tune

    settings = {**changes, **({} if epochs is None else {"epochs": epochs})}
    config = TrainConfig(**settings)
    name = "default" + "".join(f" {k}={v}" for k, v in sorted(settings.items()))
    out = RESULTS / "models" / name.replace(" ", "+")
    start = time.perf_counter()
    log = fine_tune(SCIFACT, out, config=config, progress=sys.stderr.isatty())
    wall = time.perf_counter() - start
    return {"objective": name, "config": log["config"], "train_seconds": log["train_seconds"],
            "wall_seconds": wall, "initial_dev": log["initial_dev"], "best_dev": log["best_metric"],
            "interpolation": log.get("interpolation"), "test": test_scores(out), "model": str(out)}


def print_table(rows: list[dict]) -> None:
    """One row per run; seen / unseen are test nDCG@10 over the two query subsets (see seen_split), wall is the
    whole run (mining included) where it was timed, dev the best dev nDCG@10 (chosen checkpoint)."""
    print(f"{'objective':<48} {'nDCG@10':>8} {'MAP':>7} {'seen':>7} {'unseen':>7} {'train min':>9} "
          f"{'wall min':>8} {'dev':>7}")
    for r in rows:
        c, test = r["config"], r["test"]
        if c is None:  # the zero-shot row: nothing trained, and dev is only scored by a training run
            name, minutes, wall, dev = "zero-shot all-MiniLM-L6-v2", "-", "-", "-"
        else:
            name = r["objective"] if r["objective"].startswith("default") else \
                f"{r['objective']} (e{c['epochs']:g}, lr {c['lr']:g}, b{c['batch_size']})"
            minutes, dev = f"{r['train_seconds'] / 60:.1f}", f"{r['best_dev'] or 0:.4f}"
            wall = f"{r['wall_seconds'] / 60:.1f}" if r.get("wall_seconds") else "-"
        split = [f"{test[k]:>7.4f}" if k in test else f"{'-':>7}" for k in ("ndcg@10 seen", "ndcg@10 unseen")]
        print(f"{name:<48} {test['ndcg@10']:>8.4f} {test['map']:>7.4f} {' '.join(split)} {minutes:>9} {wall:>8} "
              f"{dev:>7}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", choices=[ZERO_SHOT, *sorted(OBJECTIVES)])
    parser.add_argument("--epochs", type=float, default=None,
                        help="default: 1, and TrainConfig's for --objective default")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="with --objective default: change one TrainConfig setting (VALUE as JSON, else text)")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negatives-per-pair", type=int, default=1)
    parser.add_argument("--max-seq-length", type=int, default=None)
    parser.add_argument("--table", action="store_true", help="only print the results measured so far")
    parser.add_argument("--seen-split", action="store_true",
                        help="also split test nDCG@10 by whether a query's relevant documents were trained on")
    args = parser.parse_args()
    if not have_scifact():
        return 0
    rows = json.loads(TABLE.read_text()) if TABLE.exists() else []
    if args.objective and not args.table:
        rows.append(run(args.objective, args.epochs, args.lr, args.batch_size, args.negatives_per_pair,
                        args.max_seq_length, dict(_setting(text) for text in args.set)))
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        TABLE.write_text(json.dumps(rows, indent=2))
    print_table(rows)
    if args.seen_split:
        seen_split(rows)
    return 0


def _setting(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


if __name__ == "__main__":
    sys.exit(main())
