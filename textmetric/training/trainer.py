"""Fine-tuning: data + loss + schedule -> a saved sentence-transformers model, through its own trainer.

``fine_tune`` turns a BEIR folder (its ``train`` qrels) or an example file into
the columns the chosen loss needs, carves a dev split from the training queries
(fixed seed), evaluates the dev split with textmetric's own evaluator during
training, keeps the best checkpoint, and writes the model folder atomically
with ``training_log.json`` and ``training_curves.png`` beside the weights.
The starting model is a candidate like any checkpoint: when no checkpoint beats
it on dev, the output holds the starting weights and the log says so
(``keep_last`` saves the last checkpoint whatever its score).

Checkpoints live in ``.<name>.train/`` beside the output, so ``resume=True``
continues an interrupted run; the folder is removed after a successful run.

Launched by ``torchrun`` or ``accelerate launch`` (``WORLD_SIZE`` > 1), the run is data-parallel
through the sentence-transformers/Hugging Face trainer (gloo off CUDA): each process trains on
its own batches, mnrl gathers the in-batch negatives of all processes, and rank 0 alone clears
the work folder and writes the model folder and its log.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .. import atomic
from ..data import ExamplesSource, source_name
from ..encoding import Encoder, describe_prompts, hub_offline, load_model, quiet_transformers
from ..encoding.loading import position_limit
from ..errors import InputError, option, warn
from ..evaluation.formatting import to_json
from ..evaluation.metrics import evaluate
from ..evaluation.report import plot_training_log
from ..index import ExactIndex
from ..search.tuned_fusion import FUSION_FILE
from .config import AUTO_LENGTH, AUTO_LENGTH_CAP, TrainConfig
from .divergence import TrainingDiverged, check_loss, check_weights
from .interpolation import AUTO, choose_interpolation, interpolate, snapshot
from .losses.registry import LABEL_COLUMNS, batch_sampler_for, check_columns, get_spec, make_loss
from .remining import Remining
from .throughput import attention_dropout, autocast, resolve_precision
from .training_set import DevEvaluator, TrainingSet, prepare_training_set

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["fine_tune", "work_folder", "training_summary", "column_roles", "rank_and_world_size"]

def rank_and_world_size() -> tuple[int, int]:
    """(rank, number of processes) as ``torchrun`` / ``accelerate launch`` set them; (0, 1) for a plain run."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _barrier() -> None:
    """Wait for every process of a distributed run (nothing to wait for otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def work_folder(output: str | os.PathLike) -> Path:
    """Where a training run keeps its checkpoints: ``.<name>.train`` beside the output."""
    return atomic.work_folder(output, "train")


@quiet_transformers(errors_only=True)
@hub_offline()  # nothing a training run does (the trainer, its model card) may wait on the Hub
def fine_tune(source: ExamplesSource, output: str | os.PathLike, *, model_name: str | os.PathLike | None = None,
              config: TrainConfig | None = None, resume: bool = False, progress: bool = False,
              callbacks: list | None = None) -> dict[str, Any]:
    """Fine-tune ``model_name`` (default all-MiniLM-L6-v2) on ``source`` and save it at ``output``.

    ``source`` is a BEIR folder or examples in any form ``load_examples`` reads (a file, a ``datasets``
    save_to_disk folder, a ``datasets.Dataset``, a dict of columns).

    Returns the training log that is also written to ``output/training_log.json``.
    ``callbacks`` are extra ``transformers.TrainerCallback`` objects for the trainer.
    Under ``torchrun``/``accelerate launch`` every process returns the log; rank 0 alone writes it.
    """
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import PrinterCallback, set_seed

    config = config or TrainConfig()
    config.check()
    get_spec(config.loss)
    output = Path(output)
    rank, world_size = rank_and_world_size()
    # Every process checks before training starts, and rank 0 writes the output only after training,
    # which needs every process: no process can find rank 0's own output here.
    atomic.check_output_folder(output)  # a file, the current folder: refused before any work
    if output.exists() and any(output.iterdir()) and not resume:
        raise InputError("already exists: choose another output folder", output)
    if world_size > 1 and config.adapter is not None:
        raise InputError("the linear adapter trains in seconds on one process: run it without torchrun or "
                         "accelerate launch")
    progress = progress and rank == 0
    set_seed(config.seed)  # random, numpy and torch, process-wide, as the Hugging Face trainer seeds them itself
    if config.adapter is not None and config.tune_fusion:
        raise InputError(f"{option('tune_fusion')} is not offered with the linear adapter: tune the fusion with "
                         "benchmarks/hybrid.py on its index instead")
    if config.adapter is not None and config.interpolation is not None:
        raise InputError(f"{option('interpolation', '--interpolate')} mixes a fine-tuned encoder with its start; "
                         "the linear adapter leaves the encoder frozen")
    model = _load_for_training(model_name, config.max_seq_length)  # a length beyond the model is refused
    start_weights = snapshot(model) if config.interpolation is not None else None
    prompts = Encoder(model, prompts=config.prompts, prompt_names=config.prompt_names).prompts
    model.prompts.update(prompts)  # mining and the saved folder use them too
    loss = make_loss(config.loss, model, distance=config.distance, margin=config.margin,
                     gather_across_devices=world_size > 1, mini_batch_size=config.mini_batch_size)
    # Every process prepares the same rows: mining (hard_negatives="auto") is deterministic given the
    # starting model, data and seed, so each mines the same negatives and none waits for another's.
    training = prepare_training_set(source, config, model, progress)
    check_columns(config.loss, training.columns)
    _check_batches(config, training)
    roles = column_roles(config.loss, training.columns, prompts)
    if config.adapter is not None:
        return _fine_tune_adapter(model, model_name, loss, training, config, source, output, progress, roles)
    work = work_folder(output)
    if rank == 0 and work.exists() and not resume:
        shutil.rmtree(work)
    precision = resolve_precision(config.precision, model.device.type)
    evaluator = DevEvaluator(training, batch_size=config.batch_size, prompts=prompts, precision=precision) \
        if (training.dev_qrels or training.dev_pairs) else None
    if config.tune_fusion and not training.dev_qrels:
        raise InputError(f"{option('tune_fusion')} chooses the fusion on a dev split of queries and judged "
                         f"documents: train on a BEIR folder or (query, positive) examples with a "
                         f"{option('dev_fraction')} above 0")
    if config.interpolation == AUTO and evaluator is None:
        raise InputError(f"{option('interpolation', '--interpolate auto', 'auto')} chooses the weight on the dev "
                         f"split: give a {option('dev_fraction')} above 0, or a fixed weight")
    initial = evaluator(model) if evaluator else {}
    strategy = "steps" if config.eval_steps else "epoch"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work / "checkpoints"), num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size, learning_rate=config.lr, warmup_steps=config.warmup,
        seed=config.seed, data_seed=config.seed, batch_sampler=batch_sampler_for(config.loss),
        eval_strategy=strategy if evaluator else "no", eval_steps=config.eval_steps,
        save_strategy=strategy, save_steps=config.eval_steps, save_total_limit=2,
        load_best_model_at_end=evaluator is not None and not config.keep_last,
        metric_for_best_model=f"eval_{evaluator.primary_metric}" if evaluator else None, greater_is_better=True,
        logging_steps=config.logging_steps, report_to=[], use_cpu=not torch.cuda.is_available(),
        bf16=precision == "bf16",  # autocast: weights, optimizer and loss stay fp32
        disable_tqdm=not progress, dataloader_num_workers=0,
        ddp_backend="gloo" if world_size > 1 and not torch.cuda.is_available() else None,
        # Data-parallel, every process needs a full batch at every step (mnrl gathers equal shapes), so
        # an epoch's last incomplete batches are dropped; sentence-transformers would impose it, warning.
        dataloader_drop_last=world_size > 1,
        prompts={column: prompts[role] for column, role in roles.items() if prompts[role]} or None,
    )  # under torchrun this joins the process group
    _barrier()  # rank 0 has cleared the work folder before anyone writes there
    with _without_widget_examples(model):
        trainer = _stopping_when_diverged(SentenceTransformerTrainer)(
            model=model, args=args, train_dataset=training.dataset(), loss=loss, evaluator=evaluator,
            callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
    remining = None
    if training.remine is not None:
        remining = Remining(training, model)
        trainer.add_callback(remining)
    has_checkpoint = resume and any((work / "checkpoints").glob("checkpoint-*"))
    start = time.perf_counter()
    try:
        with attention_dropout(model, config.attention_dropout):
            trainer.train(resume_from_checkpoint=True if has_checkpoint else None)
    except TrainingDiverged:
        if rank == 0:  # its checkpoints lead to the same divergence: resuming from them cannot help
            shutil.rmtree(work, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    best = trainer.state.best_metric
    log = {
        "config": asdict(config), "model": str(model_name) if model_name else None, "source": source_name(source),
        "train_rows": len(training.rows), "pseudo_pairs": training.pseudo_pairs,
        "dev_queries": len(training.dev_queries), "dev_corpus": len(training.dev_corpus), "initial_dev": initial,
        "history": trainer.state.log_history,
        "best_metric": best, "train_seconds": seconds, "resumed": bool(has_checkpoint),
        "world_size": args.world_size, "precision": precision, "max_seq_length": model.max_seq_length,
        **_outcome(config, evaluator.primary_metric if evaluator else None, initial, best,
                   lambda: _last_dev_score(trainer, evaluator, model)),
        "interpolation": None,  # WiSE-FT's weight and dev scores, when asked for and a checkpoint is saved
        "remined": remining.history if remining else None,
    }
    if args.process_index != 0:
        _barrier()  # return once rank 0 has written the model
        return log
    if log["saved"] == "start":  # no checkpoint beat the starting model on dev: it is the one saved
        model = _load_for_training(model_name, config.max_seq_length)
        model.prompts.update(prompts)  # with the prompts it was judged by, as a trained model keeps them
    elif start_weights is not None:
        log.update(_interpolated(model, start_weights, config.interpolation, evaluator, log))
    with autocast(precision, model.device.type):
        log["fusion"] = _tuned_fusion(model, training, prompts, config.batch_size) if config.tune_fusion else None
    _save(model, output, log)
    shutil.rmtree(work, ignore_errors=True)
    _barrier()
    _warn_unless_improved(log)
    return log


def _load_for_training(model_name, length: int | str | None):
    """The starting model reading ``length`` tokens per text (``auto``: see :data:`AUTO_LENGTH_CAP`)."""
    model = load_model(model_name, max_seq_length=None if length == AUTO_LENGTH else length)
    limit = position_limit(model)
    if length == AUTO_LENGTH and limit is not None and (model.max_seq_length or 0) < AUTO_LENGTH_CAP:
        model.max_seq_length = min(limit, AUTO_LENGTH_CAP)
    return model


def _interpolated(model, start: dict, weight: float | str, evaluator: "DevEvaluator | None", log: dict) -> dict:
    """WiSE-FT on ``model`` (the checkpoint to be saved): its weights mixed with ``start`` at ``weight``, or at the
    grid point best on the dev split (``"auto"``). Returns the log's updated outcome and its ``interpolation``."""
    tuned = snapshot(model)

    def dev_score(value: float) -> float:
        interpolate(model, start, tuned, value)
        return evaluator(model)[evaluator.primary_metric]

    grid = None
    if weight == AUTO:
        weight, grid = choose_interpolation(dev_score)
    interpolate(model, start, tuned, weight)
    after = grid[weight] if grid else (evaluator(model)[evaluator.primary_metric] if evaluator else None)
    before = log.get("dev_before")
    record = {"interpolation": {"weight": weight, "chosen": "auto" if grid else "given",
                                "dev_by_weight": {f"{w:g}": v for w, v in grid.items()} if grid else None,
                                "dev_uninterpolated": log.get("dev_after")},
              "dev_after": after, "improvement": None if before is None or after is None else after - before}
    record["summary"] = training_summary({**log, **record})
    return record


def _tuned_fusion(model, training: TrainingSet, prompts: dict[str, str], batch_size: int) -> dict:
    """The hybrid fusion best on the dev split for the model to be saved: its exact search and BM25 (default
    settings), each over the dev corpus, fused by RRF and by score fusion at each alpha (``tune_fusion``)."""
    from ..index.lexical import LexicalIndex, LexicalSettings
    from ..search.retriever import DEFAULT_DEPTH, Retriever
    from .fusion_tuning import tune_fusion

    encoder = Encoder(model, prompts=prompts)
    ids = list(training.dev_corpus)
    qids = list(training.dev_queries)
    texts = [training.dev_queries[q] for q in qids]
    index = ExactIndex.build(encoder, training.dev_corpus, batch_size=batch_size)
    dense = Retriever(encoder, index, batch_size=batch_size).hits(texts, DEFAULT_DEPTH)
    settings = LexicalSettings()
    lexical = LexicalIndex.build(ids, [training.dev_corpus[d].full_text for d in ids], settings).search(
        texts, DEFAULT_DEPTH)
    return {**tune_fusion(dense, lexical, qids, training.dev_qrels), "depth": DEFAULT_DEPTH,
            "lexical": settings.to_dict()}


def _stopping_when_diverged(trainer_class: type) -> type:
    """``trainer_class`` (a Hugging Face trainer) that stops with :class:`TrainingDiverged` at the first step whose
    loss is NaN or infinite, before the optimiser spreads it to the weights."""

    class Trainer(trainer_class):
        def training_step(self, *args, **kwargs):
            loss = super().training_step(*args, **kwargs)
            check_loss(loss, self.state.global_step + 1, self.args.learning_rate)
            return loss

    return Trainer


def _last_dev_score(trainer, evaluator: "DevEvaluator | None", model) -> float | None:
    """The dev score of the model as training left it: logged at its last step, else evaluated now."""
    if evaluator is None:
        return None
    key = f"eval_{evaluator.primary_metric}"
    logged = [h for h in trainer.state.log_history if key in h and h.get("step") == trainer.state.global_step]
    return logged[-1][key] if logged else evaluator(model)[evaluator.primary_metric]


def _outcome(config: TrainConfig, primary: str | None, initial: dict, best: float | None,
             last_score: Callable[[], float | None]) -> dict:
    """Which model is saved -- the last checkpoint when asked (or without a dev split), else the best one,
    or the starting model when no checkpoint beats it -- with its dev score against the start's, in a sentence."""
    if primary is None or config.keep_last:
        kept, after = "last", last_score()
    elif best is None or best <= initial[primary]:
        kept, after = "start", initial[primary]
    else:
        kept, after = "best", best
    before = initial.get(primary) if primary else None
    record = {"saved": kept, "dev_metric": primary, "dev_before": before, "dev_after": after,
              "improvement": None if before is None or after is None else after - before}
    record["summary"] = training_summary({**record, "best_metric": best})
    return record


def _warn_unless_improved(log: dict) -> None:
    if log.get("improvement") is not None and log["improvement"] <= 0:
        warn(log["summary"])


def training_summary(log: dict) -> str:
    """One plain sentence on what training did on the dev split and which model was saved."""
    metric = (log.get("dev_metric") or "").replace("dev_", "dev ", 1)
    before, after, change = log.get("dev_before"), log.get("dev_after"), log.get("improvement")
    if change is None:
        return f"no dev split to judge by: the {'last checkpoint' if log.get('saved') == 'last' else 'model'} was saved"
    if log.get("saved") == "start":
        best = log.get("best_metric")
        at_best = f"{best:.4f} at best ({best - before:+.4f})" if best is not None else "no checkpoint evaluated"
        return (f"fine-tuning did not help: {metric} {before:.4f} before, {at_best}; the output holds the "
                f"starting model's weights ({option('keep_last', value='True')} saves the last checkpoint instead)")
    which = "the last checkpoint" if log.get("saved") == "last" else "the best checkpoint"
    mixed = log.get("interpolation")
    if mixed:  # WiSE-FT: the saved weights lie between the start and the checkpoint
        how = "as given"
        if mixed["chosen"] == "auto":
            how = "chosen on dev: " + ", ".join(f"λ {w} {s:.4f}" for w, s in mixed["dev_by_weight"].items())
        which += f", its weights interpolated with the starting model's at λ = {mixed['weight']:g} ({how})"
    if change <= 0:
        return f"fine-tuning did not help: {metric} {before:.4f} before, {after:.4f} after ({change:+.4f}); " \
               f"{which} was saved"
    return f"fine-tuning raised {metric} from {before:.4f} to {after:.4f} ({change:+.4f}); {which} was saved"


def _fine_tune_adapter(model, model_name, loss, training: TrainingSet, config: TrainConfig, source, output: Path,
                       progress: bool, roles: dict[str, str]) -> dict[str, Any]:
    """Train only a linear map W over embeddings encoded once by the frozen encoder (see ``adapter.py``)."""
    import numpy as np

    from .adapter import attach_adapter, train_linear_adapter

    if config.adapter != "linear":
        raise InputError(f"unknown adapter '{config.adapter}' (textmetric has: linear)")
    if training.dev_pairs is not None:
        raise InputError("the linear adapter is judged by retrieval: train it on pairs or triplets, not labelled pairs")
    start = time.perf_counter()
    encoder = Encoder(model)  # fine_tune gave the model its prompts
    text_columns = [c for c in training.columns if c != "label"]
    by_prompt: dict[str, list[str]] = {}  # each text is encoded once per prompt it is read with
    for column in text_columns:
        by_prompt.setdefault(encoder.prompts[roles[column]], []).append(column)
    vectors = {}
    for group in by_prompt.values():
        positions = [training.columns.index(c) for c in group]
        texts = sorted({row[i] for row in training.rows for i in positions})
        where = {t: i for i, t in enumerate(texts)}
        cache = encoder.encode(texts, role=roles[group[0]], batch_size=config.batch_size, progress=progress)
        for column, i in zip(group, positions):
            vectors[column] = cache[[where[row[i]] for row in training.rows]]
    columns = [vectors[c] for c in text_columns]
    labels = None
    if "label" in training.columns:
        labels = np.asarray([row[training.columns.index("label")] for row in training.rows])
    dev: Callable[[Any], dict[str, float]] | None = None
    if training.dev_qrels:
        dev_ids = list(training.dev_corpus)
        dev_docs = encoder.encode_documents([training.dev_corpus[d].full_text for d in dev_ids],
                                            batch_size=config.batch_size)
        dev_qids = list(training.dev_queries)
        dev_queries = encoder.encode_queries([training.dev_queries[q] for q in dev_qids], batch_size=config.batch_size)

        def dev_scores(adapter) -> dict[str, float]:
            index = ExactIndex(dev_ids, adapter.project(dev_docs), space="l2")
            run = {q: dict(h) for q, h in zip(dev_qids, index.search(adapter.project(dev_queries), 100))}
            means = evaluate(run, training.dev_qrels, ["map", "ndcg@10"]).means
            return {"dev_map": means["map"], "dev_ndcg@10": means["ndcg@10"], "score": means["ndcg@10"]}

        dev = dev_scores

    epochs = max(1, round(config.epochs))
    adapter, history = train_linear_adapter(columns, labels, loss, epochs=epochs, lr=config.lr,
                                            batch_size=config.batch_size, seed=config.seed, dev=dev,
                                            progress=progress, keep_last=config.keep_last)
    combined = attach_adapter(model, adapter)
    initial = {k: v for k, v in history[0].items() if k.startswith("dev_")} if dev else {}
    best = max((h["score"] for h in history[1:] if "score" in h), default=None)
    log = {
        "config": asdict(config), "model": str(model_name) if model_name else None, "source": source_name(source),
        "train_rows": len(training.rows), "dev_queries": len(training.dev_queries),
        "dev_corpus": len(training.dev_corpus), "initial_dev": initial,
        "history": [{"step": h["epoch"], **{k: v for k, v in h.items() if k != "score"}}
                    for h in (history[1:] if dev else history)],
        "best_metric": best, "train_seconds": time.perf_counter() - start, "resumed": False, "world_size": 1,
        "precision": "fp32",
        # saved "start" means the identity W: the frozen encoder's own embeddings
        **_outcome(config, "dev_ndcg@10" if dev else None, initial, best, lambda: history[-1].get("score")),
    }
    for record in log["history"]:  # the curve plot reads eval_dev_* keys
        for key in [k for k in record if k.startswith("dev_")]:
            record[f"eval_{key}"] = record.pop(key)
    _save(combined, output, log)
    _warn_unless_improved(log)
    return log


@contextmanager
def _without_widget_examples(model: "SentenceTransformer") -> Iterator[None]:
    """While the trainer is built, the model card computes no Hub widget examples; the model is left as it was.

    The trainer computes them once, in its constructor (its model-card callback's ``on_init_end``):
    useless offline, and they draw a stray progress bar. Only this model's card, only meanwhile.
    """
    card = model.model_card_data
    card.set_widget_examples = lambda dataset: None
    try:
        yield
    finally:
        del card.set_widget_examples


def _check_batches(config: TrainConfig, training: TrainingSet) -> None:
    if config.batch_size < 1:
        raise InputError(f"{option('batch_size')} must be at least 1, got {config.batch_size}")
    get_spec(config.loss).check_batch_size(config.batch_size)
    if not training.rows:
        raise InputError("no training rows")


# The role of each text column of the training rows, whose prompt the trainer puts before its texts.
COLUMN_ROLES = {"query": "query", "anchor": "query", "text_a": "query",
                "positive": "document", "negative": "document", "text_b": "document"}


def column_roles(loss: str, columns: tuple[str, ...], prompts: dict[str, str]) -> dict[str, str]:
    """Each text column's role, "query" or "document": the trainer's ``prompts=`` follow it.

    The batch-hard losses hold queries and documents in one column, which can carry one
    prompt only: they are refused when the query and document prompts differ.
    """
    roles = {}
    for column in columns:
        if column in LABEL_COLUMNS:
            continue
        if column not in COLUMN_ROLES and prompts["query"] != prompts["document"]:
            raise InputError(f"loss '{loss}' holds queries and documents in one column '{column}', which takes one "
                             f"prompt, but the model has {describe_prompts(prompts)}: give --query-prompt and "
                             f"--document-prompt the same text")
        roles[column] = COLUMN_ROLES.get(column, "query")
    return roles


def _save(model: "SentenceTransformer", output: Path, log: dict) -> None:
    """Model folder + training_log.json + training_curves.png, swapped into place atomically; never a model whose
    weights are not all finite."""
    check_weights(model, log["config"]["lr"])
    with atomic.atomic_folder(output) as tmp:
        model.save(str(tmp))
        (tmp / "training_log.json").write_text(to_json(log, indent=2, default=str) + "\n", encoding="utf-8")
        if log.get("fusion"):
            (tmp / FUSION_FILE).write_text(to_json(log["fusion"], indent=2) + "\n", encoding="utf-8")
        plot_training_log(log, tmp / "training_curves.png")
