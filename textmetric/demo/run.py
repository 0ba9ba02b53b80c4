"""The demo: the whole job on the embedded stdlib dataset, before and after fine-tuning.

``run_demo`` (``textmetric demo``) takes the model (default all-MiniLM-L6-v2) and

1. builds the stdlib dataset (see ``stdlib.py``) and writes it as a BEIR folder;
2. indexes the corpus with the model as it is and evaluates the test queries (zero-shot);
3. fine-tunes it with the default recipe (``fine_tune``, mnrl, on the train split: its
   queries come from other modules than the test queries');
4. indexes the corpus with the fine-tuned model and evaluates the test queries again;
5. prints a before/after table with the difference and a paired randomisation test, a
   few example searches, and every file it wrote.

Everything goes under one work folder. The sizes are parameters (``DemoConfig``):
the full run takes every stdlib module; ``quick`` takes the well-known ones
(``QUICK_MODULES``); a test passes a short module list and a tiny model.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from ..atomic import atomic_write, check_output_folder
from ..encoding import DEFAULT_BATCH_SIZE
from ..errors import InputError, option
from ..evaluation.compare import Comparison, compare_evaluations
from ..evaluation.formatting import text_table, to_json
from ..evaluation.metrics import Evaluation
from ..search.ranking import rank
from ..training.config import TrainConfig
from .stdlib import MAX_DOCUMENTS, QUICK_MODULES, Collection, stdlib_collection, write_beir

__all__ = ["DemoConfig", "DemoResult", "run_demo", "DEMO_METRICS", "EXAMPLE_QUERIES", "DEFAULT_WORKDIR"]

DEFAULT_WORKDIR = "textmetric-demo"
DEMO_METRICS = ("map", "ndcg@10", "mrr@10", "recall@100")
EXAMPLE_QUERIES = ("parse a date from a string", "read a file line by line", "generate a random number")
NAMES = ("zero-shot", "fine-tuned")
MARKER = "demo.json"  # written first: a folder holding it is a demo folder whose old outputs may be replaced
KEEP = ("cache",)  # what a new run in the same folder reuses


@dataclass
class DemoConfig:
    """The demo's sizes and settings. ``quick=True`` means the ``QUICK_MODULES`` slice unless
    ``modules`` is given; the training sizes go to ``TrainConfig`` (the rest of the recipe is its default)."""

    workdir: str | os.PathLike = DEFAULT_WORKDIR
    model: str | os.PathLike | None = None
    quick: bool = False
    modules: Sequence[str] | None = None  # top-level stdlib modules; None: all (or QUICK_MODULES with quick)
    max_docs: int | None = MAX_DOCUMENTS
    epochs: float = TrainConfig.epochs  # the default recipe's
    batch_size: int = DEFAULT_BATCH_SIZE
    max_seq_length: int | None = 128  # docstrings are short; truncating the long ones keeps the CPU time modest
    dev_corpus_size: int | None = None  # None: 500, or 200 with quick
    k: int = 1000
    examples: Sequence[str] = EXAMPLE_QUERIES
    seed: int = 42

    def resolved(self) -> "DemoConfig":
        from ..training.config import RANGES

        RANGES["epochs"].check("epochs", self.epochs)  # before the dataset is built, not when training starts
        modules = self.modules if self.modules is not None else (QUICK_MODULES if self.quick else None)
        dev = self.dev_corpus_size if self.dev_corpus_size is not None else (200 if self.quick else 500)
        return replace(self, workdir=Path(self.workdir), modules=None if modules is None else list(modules),
                       dev_corpus_size=dev)


@dataclass
class DemoResult:
    """What the demo measured and wrote."""

    before: Evaluation
    after: Evaluation
    comparison: Comparison
    table: str
    improved: bool
    files: list[str]  # every file under the work folder, relative to it
    workdir: Path
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def _prepare_workdir(workdir: Path) -> None:
    """Create the work folder, or clear a previous demo's outputs from it (its dataset cache is kept).

    A non-empty folder that is not a demo folder is refused rather than emptied.
    """
    if workdir.exists() and not workdir.is_dir():
        raise InputError(f"is a file: the demo needs a folder to work in ({option('workdir', '--output')})", workdir)
    check_output_folder(workdir, replaced=False)  # not under a file, and writable
    if workdir.is_dir() and any(workdir.iterdir()):
        if not (workdir / MARKER).is_file():
            raise InputError(f"is not empty and holds no {MARKER}, so it is not a demo folder: "
                             f"choose another {option('workdir', '--output')}", workdir)
        for entry in workdir.iterdir():
            if entry.name in KEEP:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    workdir.mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, data: dict) -> None:
    with atomic_write(path) as f:
        f.write(to_json(data, indent=2, default=str) + "\n")


def run_demo(config: DemoConfig | None = None, *, echo: Callable[[str], None] = print,
             say: Callable[[str], None] = lambda message: None, progress: bool = False) -> DemoResult:
    """Run the demo; ``echo`` receives the results (table, examples, files), ``say`` the progress chatter."""
    from ..encoding import Encoder
    from ..evaluation.runs import write_run
    from ..evaluation.systems import SystemRun, evaluate_systems
    from ..index.building import build_index
    from ..search.retriever import Retriever
    from ..training.mining import mine_hard_negatives, write_triplets
    from ..training.config import AUTO_MAX_RANK, AUTO_SKIP_TOP
    from ..training.trainer import fine_tune

    config = (config or DemoConfig()).resolved()
    workdir = Path(config.workdir)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    _prepare_workdir(workdir)
    _write_json(workdir / MARKER, {"status": "running", "config": asdict(config)})

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.perf_counter() - since, 2)
        return time.perf_counter()

    # 1. the dataset
    clock = time.perf_counter()
    collection = stdlib_collection(config.modules, max_docs=config.max_docs, cache_dir=workdir / "cache")
    data_dir = write_beir(collection, workdir / "data")
    test = collection.split("test")
    say(f"dataset: {len(collection.corpus)} documents; {len(collection.qrels['train'])} train queries from "
        f"{len(collection.modules['train'])} modules, {len(test.queries)} test queries from "
        f"{len(collection.modules['test'])} others")
    clock = lap("dataset", clock)

    # 2. zero-shot
    say("zero-shot: indexing the corpus and searching the test queries")
    base = Encoder.load(config.model, max_seq_length=config.max_seq_length)
    index_before = build_index(base, collection.corpus, workdir / "index-zero-shot", model_name=config.model,
                               batch_size=config.batch_size, progress=progress)
    run_before = Retriever(base, index_before, batch_size=config.batch_size).search(test.queries, k=config.k)
    clock = lap("zero-shot", clock)

    # 3. fine-tuning with the default recipe on the train split; its hard negatives are mined from
    # the zero-shot index just built, exactly as hard_negatives="auto" would mine them afresh
    train = collection.split("train")
    negatives_file = workdir / "data" / "hard-negatives.jsonl"
    mined = mine_hard_negatives(base, index_before, train.queries, train.qrels, negatives=1,
                                skip_top=AUTO_SKIP_TOP, max_rank=AUTO_MAX_RANK, batch_size=config.batch_size)
    write_triplets(negatives_file, train.queries, train.corpus, train.qrels, mined)
    train_config = TrainConfig(epochs=config.epochs, batch_size=config.batch_size,
                               max_seq_length=config.max_seq_length, dev_corpus_size=config.dev_corpus_size,
                               seed=config.seed, hard_negatives=str(negatives_file))
    say(f"fine-tuning ({train_config.loss} + a mined hard negative per pair, {config.epochs:g} epoch(s), "
        f"batch {config.batch_size}) on {len(collection.qrels['train'])} train queries")
    model_dir = workdir / "model"
    log = fine_tune(data_dir, model_dir, model_name=config.model, config=train_config, progress=progress)
    clock = lap("fine-tuning", clock)

    # 4. the fine-tuned model
    say("fine-tuned: indexing the corpus and searching the test queries")
    tuned = Encoder.load(model_dir)
    index_after = build_index(tuned, collection.corpus, workdir / "index-fine-tuned", model_name=model_dir,
                              batch_size=config.batch_size, progress=progress)
    run_after = Retriever(tuned, index_after, batch_size=config.batch_size).search(test.queries, k=config.k)
    clock = lap("fine-tuned", clock)

    # 5. scores, runs, report
    scored = evaluate_systems([SystemRun(NAMES[0], run_before, base, index_before),
                               SystemRun(NAMES[1], run_after, tuned, index_after, model_path=model_dir)],
                              test.qrels, DEMO_METRICS)
    before, after = (scored.evaluations[name] for name in NAMES)
    comparison = compare_evaluations(before, after, seed=config.seed)
    for name, run in zip(NAMES, (run_before, run_after)):
        write_run(run, workdir / "runs" / f"{name}.run", tag=name)
    scored.write_report(workdir / "report", test.queries, comparison=comparison, batch_size=config.batch_size)
    examples = {NAMES[0]: Retriever(base, index_before).search(list(config.examples), k=3),
                NAMES[1]: Retriever(tuned, index_after).search(list(config.examples), k=3)}
    clock = lap("report", clock)

    # 6. what to show
    table = format_before_after(comparison, before.num_queries, collection)
    improved = comparison.metrics["map"].difference > 0
    seconds = time.perf_counter() - start
    files = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file()) + [MARKER]
    _write_json(workdir / MARKER, {
        "status": "done", "config": asdict(config), "seconds": round(seconds, 1), "timings": timings,
        "dataset": {"documents": len(collection.corpus), "train_queries": len(collection.qrels["train"]),
                    "test_queries": len(test.queries), "modules": collection.modules},
        "zero-shot": before.means, "fine-tuned": after.means, "comparison": comparison.as_dict(),
        "training": {"train_rows": log.get("train_rows"), "train_seconds": log.get("train_seconds"),
                     "initial_dev": log.get("initial_dev"), "best_dev": log.get("best_metric")},
    })
    files = sorted(set(files))
    echo(table)
    echo("")
    echo(verdict(comparison))
    echo("")
    echo(format_examples(list(config.examples), examples, collection))
    echo(format_files(workdir, files))
    echo(f"\ntook {_duration(seconds)}. Compare the runs yourself: textmetric compare "
         f"--run {workdir / 'runs' / 'zero-shot.run'} --run {workdir / 'runs' / 'fine-tuned.run'} "
         f"--qrels {workdir / 'data' / 'qrels' / 'test.tsv'}")
    return DemoResult(before=before, after=after, comparison=comparison, table=table, improved=improved,
                      files=files, workdir=workdir, seconds=seconds, timings=timings)


# -- output --------------------------------------------------------------------------------------

def format_before_after(comparison: Comparison, num_queries: int, collection: Collection) -> str:
    """The before/after table: each metric zero-shot and fine-tuned, the change, and the randomisation test's p."""
    header = ["metric", NAMES[0], NAMES[1], "change", "p"]
    rows = [[name, f"{m.mean_a:.4f}", f"{m.mean_b:.4f}", f"{m.difference:+.4f}", f"{m.p_randomization:.4f}"]
            for name, m in comparison.metrics.items()]
    return "\n".join([f"stdlib test split: {num_queries} queries from {len(collection.modules['test'])} modules never "
                      f"trained on, searched among all {len(collection.corpus)} documents", "",
                      text_table(header, rows),
                      f"(p: two-sided paired randomisation test over the {num_queries} queries, "
                      f"{comparison.sign_flips})"])


def verdict(comparison: Comparison) -> str:
    """One honest sentence on what fine-tuning did to MAP."""
    m = comparison.metrics["map"]
    tally = f"better on {m.improved} queries, worse on {m.worsened}, tied on {m.tied}"
    if m.difference > 0:
        strength = "significant at 0.05" if m.p_randomization < 0.05 else "NOT significant at 0.05"
        return (f"Fine-tuning raised MAP from {m.mean_a:.4f} to {m.mean_b:.4f} ({m.difference:+.4f}; "
                f"p = {m.p_randomization:.4f}, {strength}); {tally}.")
    return (f"Fine-tuning did NOT improve MAP: {m.mean_a:.4f} before, {m.mean_b:.4f} after ({m.difference:+.4f}); "
            f"{tally}. More epochs, a larger slice or another learning rate may help; the zero-shot model is the "
            f"better one here.")


def _label(doc_id: str, collection: Collection, width: int = 100) -> str:
    summary = collection.queries.get("q:" + doc_id, "")
    text = f"{doc_id} - {summary}" if summary else doc_id
    return text if len(text) <= width else text[:width - 3] + "..."


def format_examples(queries: list[str], runs: dict[str, dict], collection: Collection) -> str:
    """The top 3 hits of each example query, before and after (id and the document's summary line)."""
    lines = ["example searches (top 3 among all documents):"]
    pad = max(len(name) for name in runs) + 2
    for position, query in enumerate(queries):
        lines.append(f"\n  \"{query}\"")
        for name, run in runs.items():
            scores = run[str(position)]
            for r, doc_id in enumerate(rank(scores), start=1):
                lead = f"{name}:".ljust(pad) if r == 1 else " " * pad
                lines.append(f"    {lead}{r}. {scores[doc_id]:.4f}  {_label(doc_id, collection)}")
    return "\n".join(lines)


_ABOUT = {
    MARKER: "what this run did and scored (JSON)",
    "cache": "the built stdlib dataset, reused by the next run",
    "data": "the stdlib dataset as a BEIR folder: corpus.jsonl, queries.jsonl, qrels/{train,test}.tsv, "
            "and the mined hard-negatives.jsonl",
    "index-zero-shot": "HNSW index of the corpus by the zero-shot model",
    "model": "the fine-tuned model (sentence-transformers folder, training_log.json, training_curves.png)",
    "index-fine-tuned": "HNSW index of the corpus by the fine-tuned model",
    "runs": "TREC run files of the test queries, zero-shot and fine-tuned",
    "report": "metrics.json, per_query.csv and plots: distances, recall@k, precision-recall, training curves",
}


def format_files(workdir: Path, files: list[str]) -> str:
    """Every top-level entry of the work folder (a folder with its file count), and each report file."""
    entries: dict[str, int] = {}
    for name in files:
        top = name.split("/", 1)[0]
        entries[top] = entries.get(top, 0) + 1
    lines = [f"\nfiles written (all under {workdir}/):"]
    order = [*_ABOUT, *sorted(set(entries) - set(_ABOUT))]
    for top in order:
        if top not in entries:
            continue
        is_folder = (workdir / top).is_dir()
        label = f"{top}/" if is_folder else top
        count = f" ({entries[top]} files)" if is_folder else ""
        lines.append(f"  {label:<20} {_ABOUT.get(top, '')}{count}")
        if top in ("report", "runs"):
            lines += [f"    {name}" for name in files if name.startswith(top + "/")]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
