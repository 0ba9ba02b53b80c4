"""``train`` (fine-tune a bi-encoder) and ``mine`` (hard negatives for it)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..errors import InputError
from ..training.config import ADAPTERS, AUTO_LENGTH_CAP, MAX_SEED, RANGES, TrainConfig
from ..training.distances import DEFAULT_DISTANCE, DISTANCES
from ..training.interpolation import INTERPOLATION_GRID, parse_interpolation
from ..training.losses.registry import DEFAULT_MINI_BATCH_SIZE, LOSS_SPECS
from ..training.throughput import PRECISIONS
from ..training.mining import (DEFAULT_MAX_RANK, DEFAULT_NEGATIVES, DEFAULT_RELATIVE_MARGIN, DEFAULT_SKIP_TOP,
                               mine_hard_negatives, write_triplets)
from .options import (_load_index_model, _load_model, _old_spelling, _prompts, batch_option, encoder_options,
                      finite, json_option, model_option, output_file, prompt_options, quiet_option,
                      ray_options, train_length_type)
from .output import _report, _say, _seconds, _setup

_TRAIN = TrainConfig()  # the library's defaults, shown as the options' defaults


@click.command()
@click.option("--data", "data_dir", metavar="DIR",
              help="A BEIR folder: its --split qrels give the (query, positive) pairs, and the dev split.")
@click.option("--split", default=_TRAIN.split, show_default=True, help="Qrels split of the BEIR folder to train on.")
@click.option("--examples", "examples_path", metavar="PATH",
              help="Instead of --data: a jsonl/csv/parquet/arrow file or `datasets` save_to_disk folder of "
                   "(query, positive), (anchor, positive, negative) or (text_a, text_b, label) rows.")
@click.option("--output", metavar="DIR", required=True, help="The model folder to write.")
@model_option
@click.option("--loss", type=click.Choice(list(LOSS_SPECS)), default=_TRAIN.loss, show_default=True,
              help="Training objective.")
@click.option("--margin", type=finite(RANGES["margin"]), default=None,
              help="Margin m of the contrastive/triplet losses.")
@click.option("--distance", type=click.Choice(list(DISTANCES)), default=None,
              help=f"Distance d of the contrastive/triplet losses [default: {DEFAULT_DISTANCE}].")
@click.option("--hard-negatives", metavar="FILE|auto|none", default=_TRAIN.hard_negatives, show_default=True,
              help="For a BEIR folder: negatives mined now with the starting model (auto), from a "
                   "`textmetric mine` file, or random ones (none). Example files bring their own.")
@click.option("--remine-every-epoch", "remine", is_flag=True, default=_TRAIN.remine,
              help="With --hard-negatives auto: mine the negatives again before every epoch after the first, with "
                   "the model being trained (ANCE), so they stay the documents it now ranks wrongly.")
@click.option("--negatives-per-pair", default=_TRAIN.negatives_per_pair, show_default=True, type=click.IntRange(min=1),
              help="Negatives per (query, positive) pair (mnrl: one row per pair, with k negative columns).")
@click.option("--relative-margin", default=_TRAIN.relative_margin, show_default=True,
              type=finite(RANGES["relative_margin"]),
              help="With --hard-negatives auto: drop a mined document whose cosine similarity to the query exceeds "
                   "(1 - margin) x its positive's, as a likely false negative (0: keep all; 0.05 is usual).")
@click.option("--pseudo-queries", default=_TRAIN.pseudo_queries, show_default=True, type=click.IntRange(min=0),
              metavar="N", help="Add N inverse-cloze pairs (a sentence -> the rest of its document, or title -> text) "
                                "from documents no query of the split judges (never a dev query's).")
@click.option("--epochs", default=_TRAIN.epochs, show_default=True, type=finite(RANGES["epochs"]),
              help="Passes over the training rows (a fraction stops part-way through the last).")
@click.option("--batch-size", default=_TRAIN.batch_size, show_default=True, type=click.IntRange(min=1),
              help="Examples per step and process: under torchrun or accelerate launch a step sees "
                   "batch-size × processes, and mnrl gathers its in-batch negatives from all of them.")
@click.option("--mini-batch-size", default=_TRAIN.mini_batch_size, type=click.IntRange(min=1),
              help="With --loss cached-mnrl: rows encoded at a time (GradCache); the loss is the whole batch's, so "
                   f"--batch-size can grow beyond memory [default: {DEFAULT_MINI_BATCH_SIZE}].")
@click.option("--lr", default=_TRAIN.lr, show_default=True, type=finite(RANGES["lr"]),
              help="Peak learning rate (AdamW, linear warm-up over the first 10% of steps, then linear decay).")
@click.option("--max-seq-length", default=_TRAIN.max_seq_length, type=train_length_type, show_default=True,
              help=f"Truncate texts to this many tokens; auto raises the model's own length to {AUTO_LENGTH_CAP} where "
                   "its positions allow (all-MiniLM-L6-v2: 256 -> 512), and the saved model keeps it.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=_TRAIN.precision, show_default=True,
              help="bf16: mixed precision (autocast; weights stay fp32) for training, mining and dev scoring, 2-3x "
                   "faster where the CPU has AMX or AVX-512 BF16; auto picks it there, fp32 elsewhere.")
@click.option("--attention-dropout", default=_TRAIN.attention_dropout, show_default=True,
              type=finite(RANGES["attention_dropout"]),
              help="Dropout on attention weights while training; above 0 the fused attention kernel cannot run on a "
                   "CPU (2.5x slower steps). The saved model's configuration keeps its own.")
@click.option("--dev-fraction", default=_TRAIN.dev_fraction, show_default=True,
              type=finite(RANGES["dev_fraction"]),
              help="Share of training queries held out as the dev split (fixed seed).")
@click.option("--dev-corpus-size", default=_TRAIN.dev_corpus_size, show_default=True, type=click.IntRange(min=1),
              help="Documents the dev queries are searched among (their judged ones plus random others).")
@click.option("--eval-steps", default=_TRAIN.eval_steps, type=click.IntRange(min=1),
              help="Evaluate the dev split (and checkpoint) every N steps [default: every epoch].")
@click.option("--logging-steps", default=_TRAIN.logging_steps, show_default=True, type=click.IntRange(min=1),
              help="Record the training loss in training_log.json every N steps.")
@click.option("--seed", default=_TRAIN.seed, show_default=True, type=click.IntRange(0, MAX_SEED),
              help="Seed of the dev split, the random negatives, the batch order and dropout.")
@click.option("--adapter", type=click.Choice(ADAPTERS), default=_TRAIN.adapter,
              help="Train only a linear map W on the frozen encoder (d = ||W(x - y)||): seconds, not minutes.")
@click.option("--keep-last", is_flag=True,
              help="Save the last checkpoint, not the one best on the dev split (the starting model included).")
@click.option("--interpolate", "interpolation", metavar="auto|none|WEIGHT",
              default="none" if _TRAIN.interpolation is None else str(_TRAIN.interpolation), show_default=True,
              callback=lambda ctx, param, value: parse_interpolation(value) if isinstance(value, str) else value,
              help="WiSE-FT: save (1 - λ)·start + λ·fine-tuned weights, with λ = WEIGHT in [0, 1], or chosen on "
                   f"the dev split from {', '.join(f'{w:g}' for w in INTERPOLATION_GRID)} (auto).")
@click.option("--tune-fusion", is_flag=True, default=_TRAIN.tune_fusion,
              help="Choose the hybrid fusion (rrf, or score fusion's --alpha) on the dev split, BM25 over the dev "
                   "corpus, and keep it in the model folder (fusion.json): hybrid search with the model uses it.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint.")
@prompt_options
@json_option("command, output, saved (best, start or last), dev_metric, dev_before, dev_after, improvement, "
             "best_metric, summary, interpolation (weight, chosen, dev_by_weight; null without --interpolate), "
             "fusion (the tuned fusion; null without --tune-fusion), "
             "train_rows, train_seconds, precision (fp32 or bf16, as auto resolved), "
             "log (the training_log.json path)")
@quiet_option
def train(data_dir, split, examples_path, output, model_name, loss, margin, distance, hard_negatives,
          remine, negatives_per_pair, relative_margin, pseudo_queries, epochs, batch_size, mini_batch_size, lr,
          max_seq_length, precision, attention_dropout, dev_fraction, dev_corpus_size, eval_steps, logging_steps,
          seed, adapter, keep_last, interpolation, tune_fusion, resume, as_json, quiet) -> None:
    """Fine-tune a bi-encoder with a metric-learning loss; keeps the checkpoint best on the dev split, or the
    starting model when no checkpoint beats it.

    Data-parallel under `torchrun --nproc_per_node N -m textmetric train ...` or `accelerate launch`.
    """
    from ..data import is_saved_dataset
    from ..training.trainer import fine_tune, rank_and_world_size

    speaks = rank_and_world_size()[0] == 0  # in a distributed run, rank 0 speaks for all (errors aside)
    quiet = quiet or not speaks
    progress = _setup(quiet)
    ctx = click.get_current_context()
    if data_dir and not examples_path and (Path(data_dir).is_file() or is_saved_dataset(Path(data_dir))):
        _old_spelling("--data with training examples", "--examples PATH")
        data_dir, examples_path = None, data_dir
    if bool(data_dir) == bool(examples_path):
        raise click.UsageError("give --data DIR (a BEIR folder) or --examples PATH (one of them)")
    if examples_path and ctx.get_parameter_source("split") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--split picks the qrels of a BEIR folder: it goes with --data, not --examples")
    if hard_negatives == "none":
        hard_negatives = None
    elif hard_negatives != "auto" and not Path(hard_negatives).is_file():
        raise InputError("no such file (give a `textmetric mine` output, 'auto' or 'none')", hard_negatives)
    config = TrainConfig(loss=loss, distance=distance, margin=margin, epochs=epochs, batch_size=batch_size, lr=lr,
                         max_seq_length=max_seq_length, dev_fraction=dev_fraction, dev_corpus_size=dev_corpus_size,
                         seed=seed, hard_negatives=hard_negatives, negatives_per_pair=negatives_per_pair,
                         relative_margin=relative_margin, remine=remine, mini_batch_size=mini_batch_size,
                         pseudo_queries=pseudo_queries, precision=precision, attention_dropout=attention_dropout,
                         eval_steps=eval_steps, logging_steps=logging_steps, adapter=adapter, split=split,
                         keep_last=keep_last, interpolation=interpolation, tune_fusion=tune_fusion,
                         **_prompts())
    try:
        log = fine_tune(data_dir or examples_path, output, model_name=model_name, config=config, resume=resume,
                        progress=progress)
    except KeyboardInterrupt:
        _say("checkpoints are kept: run the same command with --resume to continue", quiet)
        raise
    if not speaks:
        return
    keys = ("saved", "dev_metric", "dev_before", "dev_after", "improvement", "best_metric", "summary",
            "interpolation", "fusion", "train_rows", "train_seconds", "precision")
    _report(as_json, quiet, {"command": "train", "output": str(output), **{key: log.get(key) for key in keys},
                             "log": str(Path(output) / "training_log.json")},
            f"model written to {output} ({log['train_rows']} training rows, {log['train_seconds']:.0f} s): "
            f"{log['summary']}")


@click.command()
@click.option("--data", "data_dir", metavar="DIR", required=True, help="A BEIR folder.")
@click.option("--split", default="train", show_default=True, help="Qrels split whose queries get negatives.")
@click.option("--output", metavar="FILE", required=True, callback=output_file,
              help="The triplets file to write (jsonl).")
@model_option
@encoder_options
@click.option("--index", "index_dir", metavar="DIR", default=None,
              help="Search this index of the corpus instead of encoding it (its model by default).")
@click.option("--negatives", default=DEFAULT_NEGATIVES, show_default=True, type=click.IntRange(min=1),
              help="Negatives per query.")
@click.option("--skip-top", default=DEFAULT_SKIP_TOP, show_default=True, type=click.IntRange(min=0),
              help="Pass over the first N hits (they often hold unjudged relevant documents).")
@click.option("--max-rank", default=DEFAULT_MAX_RANK, show_default=True, type=click.IntRange(min=1),
              help="Take negatives from the top N hits only.")
@click.option("--relative-margin", default=DEFAULT_RELATIVE_MARGIN, show_default=True,
              type=finite(RANGES["relative_margin"]),
              help="Drop a hit whose cosine similarity to the query exceeds (1 - margin) x its least similar "
                   "relevant document's, as a likely false negative (0: keep all).")
@batch_option
@ray_options
@json_option("command, output, triplets, queries, seconds")
@quiet_option
def mine(data_dir, split, output, model_name, index_dir, negatives, skip_top, max_rank, relative_margin, batch_size,
         ray_address, encoders, as_json, quiet) -> None:
    """Write (anchor, positive, negative) triplets whose negatives are the model's top-ranked non-relevant docs."""
    from ..data import load_beir

    progress = _setup(quiet)
    start = time.perf_counter()
    if ray_address is not None and index_dir:
        raise click.UsageError("--ray encodes the corpus: it takes --data, not --index")
    if ray_address is not None:
        from ..distributed.cluster import check_address

        check_address(ray_address)
    data = load_beir(data_dir, split)
    if ray_address is not None:
        from ..distributed.build import exact_index_on_ray

        model = _load_model(model_name)
        _say(f"encoding {len(data.corpus)} documents on Ray", quiet)
        index = exact_index_on_ray(model, data_dir, model=model_name, address=ray_address, encoders=encoders,
                                   batch_size=batch_size)
    elif index_dir:
        from ..index import Index

        index = Index.load(index_dir)
        model = _load_index_model(index, model_name)
    else:
        from ..index import ExactIndex

        model = _load_model(model_name)
        _say(f"encoding {len(data.corpus)} documents", quiet)
        index = ExactIndex.build(model, data.corpus, batch_size=batch_size, progress=progress)
    mined = mine_hard_negatives(model, index, data.queries, data.qrels, negatives=negatives, skip_top=skip_top,
                                max_rank=max_rank, relative_margin=relative_margin, batch_size=batch_size,
                                progress=progress)
    count = write_triplets(output, data.queries, data.corpus, data.qrels, mined)
    _report(as_json, quiet, {"command": "mine", "output": str(output), "triplets": count, "queries": len(mined),
                             "seconds": _seconds(start)},
            f"{count} triplets for {len(mined)} queries written to {output}")

