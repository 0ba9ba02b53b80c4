"""The ``textmetric`` command: a thin shell over the Python API.

Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 an
unexpected failure (one line; ``TEXTMETRIC_DEBUG=1`` shows the traceback),
141 when the reader of stdout goes away (``| head``), as for a tool killed by SIGPIPE.
The grammar every command follows is the group's help (``textmetric --help``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import click

from .errors import CLI_MARK, InputError, warn
from .training.distances import DEFAULT_DISTANCE, DISTANCES
from .training.losses.registry import DEFAULT_LOSS, LOSS_SPECS

_WARNING_FORMAT = "textmetric: %(levelname)s: %(message)s"
_TABLE_SNIPPET = 70  # characters of each hit's title and text in the search table


class _LowerLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)


def _setup(quiet: bool) -> bool:
    """Route textmetric's warnings to stderr (silenced by ``--quiet``); return whether to show progress bars."""
    from .encoding import show_progress

    logger = logging.getLogger("textmetric")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerLevel(_WARNING_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.propagate = False
    return show_progress(quiet)


def _say(message: str, quiet: bool) -> None:
    """Chatter about what is happening goes to stderr, and nowhere with ``--quiet``."""
    if not quiet:
        click.echo(message, err=True)


def json_option(keys: str):
    """--json for a command whose report is one JSON object with ``keys`` (documented in its help)."""
    return click.option("--json", "as_json", is_flag=True,
                        help=f"Print one JSON object on stdout instead of the summary on stderr: {keys}.")


def lock_option(folder_param: str):
    """--lock-timeout, for a command that writes the index folder given as ``folder_param``: the whole command
    holds that folder's writer lock (``write_lock``), from reading the old index to swapping the new one in."""
    import functools

    from .index.locking import DEFAULT_LOCK_TIMEOUT

    def decorate(function):
        @functools.wraps(function)
        def locked(*args, lock_timeout, **kwargs):
            from .index.folder import write_lock

            _setup(kwargs.get("quiet", False))  # so that "waiting for another writer" shows, or not
            with write_lock(kwargs[folder_param], lock_timeout):
                return function(*args, **kwargs)

        return click.option("--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT,
                            metavar="SECONDS",
                            help="Give up with an error if another writer holds the index for longer "
                                 "[default: wait, saying so].")(locked)

    return decorate


def _report(as_json: bool, quiet: bool, record: dict, summary: str) -> None:
    """What a command did: ``record`` as one JSON object on stdout with --json, else ``summary`` on stderr."""
    if as_json:
        click.echo(json.dumps(record))
    else:
        _say(summary, quiet)


def _seconds(start: float) -> float:
    return round(time.perf_counter() - start, 3)


class _HiddenArgument(click.Argument):
    """A positional argument kept only as an old spelling: parsed, but absent from the usage line."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def _old_spelling(old: str, new: str) -> None:
    """An old spelling still works for this release, with a note saying the new one."""
    warn(f"{old} is the old spelling of {new}: it goes in the next release")


def _renamed(new_param: str, new_flag: str, old_value, old_flag: str):
    """The value of option ``new_param``, or of its hidden old spelling when that was given (not both)."""
    ctx = click.get_current_context()
    if old_value is None or old_value == ():
        return ctx.params[new_param]
    if ctx.get_parameter_source(new_param) is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError(f"{old_flag} is the old spelling of {new_flag}: give {new_flag} alone")
    _old_spelling(old_flag, new_flag)
    return old_value


quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="No progress bars and no messages on stderr (errors still show).")
model_option = click.option("--model", "model_name", metavar="NAME_OR_PATH", default=None,
                            help="A sentence-transformers model folder or cached name "
                                 "[default: the offline all-MiniLM-L6-v2].")
def _store_encoding(ctx: click.Context, param: click.Parameter, value):
    ctx.meta.setdefault("textmetric.encoding", {})[param.name] = value
    return value


def prompt_options(function):
    """The query and document prompts, by text or by the name of one of the model's (kept in the click context)."""
    from .encoding import ROLES

    examples = {"query": "query: ", "document": "passage: "}
    for role in reversed(ROLES):
        function = click.option(f"--{role}-prompt-name", metavar="NAME", default=None, expose_value=False,
                                callback=_store_encoding,
                                help=f"Use the model's own prompt of this name before every {role}.")(function)
        function = click.option(f"--{role}-prompt", metavar="TEXT", default=None, expose_value=False,
                                callback=_store_encoding,
                                help=f"Text put before every {role} (e.g. '{examples[role]}'; '' for none) "
                                     f"[default: the model's {role} prompt, or the index's].")(function)
    return function


def _prompts() -> dict:
    """The ``prompts`` and ``prompt_names`` the command was given, by role (None when none was)."""
    from .encoding import ROLES

    settings = _encoding()
    return {key: {role: settings[f"{role}_{suffix}"] for role in ROLES
                  if settings.get(f"{role}_{suffix}") is not None} or None
            for key, suffix in (("prompts", "prompt"), ("prompt_names", "prompt_name"))}


def encoder_options(function):
    """--backend, --workers, --max-seq-length and the prompts for every command that encodes (kept in the click
    context)."""
    from .encoding import BACKENDS

    function = prompt_options(function)
    function = click.option("--max-seq-length", type=click.IntRange(min=1), default=None, expose_value=False,
                            callback=_store_encoding,
                            help="Truncate texts to this many tokens (a warning counts the truncated ones) "
                                 "[default: the model's, or the index's].")(function)
    function = click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                            expose_value=False, callback=_store_encoding,
                            help="Encode with N processes (torch: one per GPU if there are N, else sharing "
                                 "the CPU cores) or N parallel batches (ONNX).")(function)
    return click.option("--backend", type=click.Choice(BACKENDS), default=None, expose_value=False,
                        callback=_store_encoding,
                        help="Inference backend: torch, onnx or onnx-int8 (exported once, cached beside the "
                             "model) [default: torch, or the index's].")(function)


def _encoding() -> dict:
    return click.get_current_context().meta.get("textmetric.encoding", {})


def _load_model(model_name):
    """The model's encoder, on the backend and with the workers, max length and prompts the command was given."""
    from .encoding import Encoder

    settings = _encoding()
    return Encoder.load(model_name, backend=settings.get("backend") or "torch", workers=settings.get("workers") or 1,
                        max_seq_length=settings.get("max_seq_length"), **_prompts())


def _load_index_model(index, model_name):
    """The index's model (or the given one, checked), on the command's backend and prompts or else the index's."""
    from .index.building import load_index_model

    settings = _encoding()
    return load_index_model(index, model_name, backend=settings.get("backend"), workers=settings.get("workers") or 1,
                            max_seq_length=settings.get("max_seq_length"), **_prompts())


batch_option = click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
                            help="Texts per encoding batch.")


def run_tag_option(function):
    """--run-tag, for the commands that write runs (--run-out)."""
    from .evaluate import DEFAULT_RUN_TAG, check_run_tag

    return click.option("--run-tag", metavar="TAG", default=DEFAULT_RUN_TAG, show_default=True,
                        callback=lambda ctx, param, value: check_run_tag(value),
                        help="The tag column (the sixth) of the --run-out file: one word naming the system."
                        )(function)


def filter_option(function):
    """--filter, for the commands that search (`search`, `evaluate`): which documents a hit may be."""
    from .index.filters import parse_cli_filters

    return click.option("--filter", "filter_", metavar="FIELD=VALUE", multiple=True,
                        callback=lambda ctx, param, value: parse_cli_filters(value),
                        help="Only documents whose field matches: FIELD=VALUE, or !=, >, >=, <, <= (numbers, or "
                             "strings in code-point order); VALUE is JSON when it reads as a number, true, false, "
                             "null, a quoted string or a list (= one of them), else text. Or a JSON object "
                             "{\"field\": value or {\"$op\": value}} ($eq, $ne, $in, $gt, $gte, $lt, $lte). "
                             "Repeat it: all must hold.")(function)


def lexical_options(function):
    """The BM25 side's tokenisation, for `index --lexical` and `index-lexical` (recorded in the manifest)."""
    function = click.option("--stopwords", type=click.Choice(["en", "none"]), default="en", show_default=True,
                            help="Drop Lucene's 33 English stop words, or keep every word.")(function)
    return click.option("--stemmer", type=click.Choice(["english", "none"]), default="english",
                        show_default=True, help="Snowball stemming (PyStemmer), or none.")(function)


def hybrid_options(modes: tuple[str, ...]):
    """--mode and the fusion settings, for `search` and `evaluate`."""
    from .search.fusion import DEFAULT_ALPHA, DEFAULT_RRF_K
    from .search.retriever import DEFAULT_DEPTH

    def decorate(function):
        for option in reversed([
            click.option("--mode", type=click.Choice(modes), default="dense", show_default=True,
                         help="dense: the model's embeddings; lexical: BM25 alone (no model); hybrid: both, fused"
                              + ("; all: the three side by side" if "all" in modes else "") + "."),
            click.option("--fusion", type=click.Choice(["rrf", "score"]), default="rrf", show_default=True,
                         help="Hybrid fusion: reciprocal rank fusion, or min-max normalised scores mixed by --alpha."),
            click.option("--alpha", type=click.FloatRange(0, 1), default=DEFAULT_ALPHA, show_default=True,
                         help="--fusion score: weight of the dense side (1 - alpha for the lexical side)."),
            click.option("--rrf-k", type=click.FloatRange(min=0), default=DEFAULT_RRF_K, show_default=True,
                         help="--fusion rrf: the constant k in 1 / (k + rank)."),
            click.option("--depth", type=click.IntRange(min=1), default=DEFAULT_DEPTH, show_default=True,
                         help="Hybrid: candidates taken from the top of each side before fusing."),
        ]):
            function = option(function)
        return function

    return decorate


def _fusion(fusion, alpha, rrf_k, depth) -> dict:
    return {"fusion": fusion, "alpha": alpha, "rrf_k": rrf_k, "depth": depth}


CLOSED_PIPE = 128 + 13  # the shell's status for a process killed by SIGPIPE


def _closed_pipe() -> NoReturn:
    """The reader of stdout went away (``| head``): stop quietly, as a tool killed by SIGPIPE does."""
    try:  # Python's last flush of stdout at exit must not fail a second time
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(CLOSED_PIPE)


class _Group(click.Group):
    """The command group; a reader of stdout gone away (``| head``) ends the command here, before click
    would turn it into exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _closed_pipe()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="textmetric")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """textmetric: fine-tune, index, search and evaluate semantic text retrieval.

    One grammar for every command:

    \b
      inputs  options named for what they read: --data DIR (a BEIR folder,
              --split its qrels), --corpus, --queries, --qrels, --run FILE,
              --examples PATH (training pairs or triplets), --index DIR, --model
      output  --output PATH: what the command makes (an index, a model, a
              triplets file, a BEIR folder, the demo's folder)
      extras  commands that print results write more on request: --run-out
              FILE (its tag column --run-tag), --per-query FILE, --report DIR
      stdout  the results: a table or text, or with --json one JSON object
              (search: one per query)
      stderr  progress, summaries and warnings; -q/--quiet keeps only errors
      exit    0 success, 2 bad input or usage, 1 an unexpected failure,
              141 when the reader of stdout goes away (| head)

    Positional arguments are only query text (search QUERY...).
    """
    ctx.meta[CLI_MARK] = True  # library messages name flags, not the API's parameters


def _metric_names(text: str) -> list[str]:
    from .metrics import parse_metric

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("name at least one metric", param_hint="--metrics")
    for name in names:
        parse_metric(name)  # fail before any encoding
    return names


CORPUS_HELP = ("A corpus: a jsonl/csv/tsv/parquet/arrow file, a BEIR folder (its corpus.jsonl) or a `datasets` "
               "save_to_disk folder.")
QUERIES_HELP = ("Queries: a jsonl/csv/tsv/parquet/arrow file, a BEIR folder (its queries.jsonl) or a `datasets` "
                "save_to_disk folder.")
QRELS_HELP = ("Judgments: BEIR tsv or TREC text, or a jsonl/csv/parquet/arrow file or `datasets` save_to_disk folder "
              "with columns query-id, corpus-id, score (or qid, docid, rel).")


@cli.command()
@click.option("--run", "run_path", metavar="FILE", help="Score an existing TREC run file (with --qrels).")
@click.option("--data", "data_dir", metavar="DIR", help="A BEIR folder: encode, search and score.")
@click.option("--corpus", "corpus_path", metavar="PATH", help=CORPUS_HELP + " With --queries and --qrels.")
@click.option("--queries", "queries_path", metavar="PATH", help=QUERIES_HELP)
@click.option("--qrels", "qrels_path", metavar="PATH", help=QRELS_HELP)
@click.option("--pairs", "pairs_path", metavar="FILE",
              help="Labelled pairs (text_a, text_b, label): pair-classification accuracy and F1 of --model.")
@click.option("--split", default="test", show_default=True, help="Qrels split of the BEIR folder.")
@click.option("--index", "index_dir", metavar="DIR", multiple=True,
              help="Search this HNSW index instead of exact search over the corpus (its model by default); "
                   "repeat it to search the shards of one corpus together.")
@click.option("--ef", type=click.IntRange(min=1), default=None, help="HNSW search depth [default: the index's].")
@click.option("--check-recall", is_flag=True, help="With --index: also report HNSW recall@10 against exact search.")
@filter_option
@hybrid_options(("dense", "lexical", "hybrid", "all"))
@model_option
@encoder_options
@click.option("-k", "--top-k", "k", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Documents retrieved per query.")
@batch_option
@click.option("--metrics", "metrics_text", default=None, metavar="LIST",
              help="Comma-separated, any case: map, map@K, ndcg, ndcg@K, mrr, mrr@K, recall@K, p@K, r-precision, "
                   "bpref, success@K; trec_eval's names (P_10, ndcg_cut_10, map_cut_100, recip_rank, Rprec, "
                   "recall_100, success_10) and ranx/BEIR's (NDCG@10, precision@10, hit_rate@10) too, printed as "
                   "given [default: map,map@100,ndcg@10,mrr@10,recall@100,p@10].")
@click.option("--relevance-level", default=1, show_default=True, type=int,
              help="Lowest grade that counts as relevant (not used by nDCG).")
@click.option("--complete", is_flag=True,
              help="Average over every qrels query; a query missing from the run scores 0 (trec_eval -c).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object instead of a table: the metric names as keys, plus num_queries; "
                   "with --mode all or --compare-model {\"systems\": [{name, metrics, num_queries}, ...]}; "
                   "with --pairs accuracy, f1, their thresholds, precision, recall and num_pairs.")
@click.option("--per-query", "per_query_path", metavar="FILE", help="Write every metric of every query as CSV.")
@click.option("--run-out", "run_out", metavar="FILE", help="Write the retrieved run as a TREC run file.")
@run_tag_option
@click.option("--report", "report_dir", metavar="DIR",
              help="Write a report folder: metrics.json, per_query.csv and PNG plots (distances of relevant and "
                   "hardest non-relevant pairs, recall@k, precision-recall, training curves).")
@click.option("--compare-model", "compare_model", metavar="NAME_OR_PATH",
              help="Also evaluate this model by exact search over the same data, side by side with --model "
                   "(with --report: before/after plots and paired significance tests).")
@quiet_option
def evaluate(run_path, data_dir, corpus_path, queries_path, qrels_path, pairs_path, split, index_dir, ef,
             check_recall, filter_, mode, fusion, alpha, rrf_k, depth, model_name, k, batch_size, metrics_text,
             relevance_level, complete, as_json, per_query_path, run_out, run_tag, report_dir, compare_model,
             quiet) -> None:
    """Score retrieval with trec_eval's metrics (an existing run, or a model searching a corpus or an index),
    or pair classification with --pairs."""
    from . import data as data_module
    from .evaluate import format_modes_table, format_table, write_per_query, write_run
    from .metrics import DEFAULT_METRICS, evaluate as evaluate_run

    progress = _setup(quiet)
    if pairs_path:
        if run_path or data_dir or corpus_path or queries_path or qrels_path or index_dir or report_dir \
                or compare_model or filter_ is not None:
            raise click.UsageError("--pairs scores pair classification: it takes only --model and --batch-size")
        _evaluate_pairs(pairs_path, model_name, batch_size, as_json, progress)
        return
    if report_dir:
        from .report import check_report_folder

        check_report_folder(report_dir)  # before any encoding
    if compare_model and (run_path or index_dir):
        raise click.UsageError("--compare-model runs exact search with both models: give --data or "
                               "--corpus/--queries/--qrels, not --run or --index")
    if compare_model and (run_out or per_query_path):
        raise click.UsageError("--compare-model evaluates two models: --run-out and --per-query take one "
                               "(use --report for both)")
    metrics = _metric_names(metrics_text) if metrics_text else list(DEFAULT_METRICS)
    if filter_ is not None and (run_path or check_recall):
        raise click.UsageError("--filter restricts a search: it takes --data, --corpus or --index, "
                               "and not --run or --check-recall (which measures the whole graph)")
    if check_recall and not index_dir:
        raise click.UsageError("--check-recall compares an --index with exact search: give --index")
    if mode != "dense" and not index_dir:
        raise click.UsageError(f"--mode {mode} needs --index: exact search over a corpus has no lexical side "
                               f"(build an index with `textmetric index --lexical`)")
    if mode == "all" and (run_out or per_query_path):
        raise click.UsageError("--mode all compares three runs: --run-out and --per-query take one --mode")
    extra = {}
    if run_path is not None:
        if data_dir or corpus_path or queries_path or model_name or run_out or index_dir:
            raise click.UsageError("--run scores an existing run: it takes only --qrels and scoring options")
        if not qrels_path:
            raise click.UsageError("--run needs --qrels")
        from .evaluate import read_run

        qrels = data_module.load_qrels(qrels_path)
        run = read_run(run_path)
        systems = [(Path(run_path).name, run, None)]
    else:
        if data_dir:
            if corpus_path or queries_path or qrels_path:
                raise click.UsageError("--data is a BEIR folder: give either it or --corpus/--queries/--qrels")
            bundle = data_module.load_beir(data_dir, split)
        elif (corpus_path or index_dir) and queries_path and qrels_path:
            bundle = _load_files(corpus_path, queries_path, qrels_path)
        else:
            raise click.UsageError("give --run and --qrels, or --data DIR, or --corpus (or --index), "
                                   "--queries and --qrels")
        if index_dir:
            modes = ("dense", "lexical", "hybrid") if mode == "all" else (mode,)
            runs, extra, model, index = _index_runs(bundle, index_dir, model_name, k, ef, batch_size, check_recall,
                                                    modes, _fusion(fusion, alpha, rrf_k, depth), progress, quiet,
                                                    filter_)
            searcher = (model, index) if model is not None else None
            systems = [(m, r, searcher if m == "dense" else None) for m, r in runs.items()]
            model_path = model_name or (index.model or {}).get("name")  # its training log, if a fine-tuned folder
            if mode == "all":
                results = {m: evaluate_run(r, bundle.qrels, metrics, relevance_level=relevance_level,
                                           complete=complete) for m, r in runs.items()}
                columns = {m: {**r.means, **(extra if m == "dense" else {})} for m, r in results.items()}
                num_queries = next(iter(results.values())).num_queries
                if report_dir:
                    _write_report(report_dir, systems, results, bundle, relevance_level, batch_size,
                                  {"dense": model_path}, quiet)
                if as_json:
                    click.echo(_systems_json(columns, results))
                else:
                    click.echo(format_modes_table(columns, num_queries))
                return
            run = runs[mode]
        else:
            run, model, index = _exact_search(bundle, model_name, k, batch_size, progress, quiet, filter_)
            systems = [(_model_label(model_name), run, (model, index))]
            model_path = model_name
            if compare_model:
                other_run, other_model, other_index = _exact_search(bundle, compare_model, k, batch_size, progress,
                                                                    quiet, filter_)
                labels = _two_labels(model_name, compare_model)
                systems = [(labels[0], run, (model, index)), (labels[1], other_run, (other_model, other_index))]
                results = {name: evaluate_run(r, bundle.qrels, metrics, relevance_level=relevance_level,
                                              complete=complete) for name, r, _ in systems}
                if report_dir:
                    _write_report(report_dir, systems, results, bundle, relevance_level, batch_size,
                                  {labels[0]: model_name, labels[1]: compare_model}, quiet)
                if as_json:
                    click.echo(_systems_json({name: r.means for name, r in results.items()}, results))
                else:
                    click.echo(format_modes_table({name: r.means for name, r in results.items()},
                                                  next(iter(results.values())).num_queries))
                return
        qrels = bundle.qrels
    result = evaluate_run(run, qrels, metrics, relevance_level=relevance_level, complete=complete)
    if report_dir:
        from .data import RetrievalData

        name, _, searcher = systems[0]
        source = bundle if run_path is None else RetrievalData({}, {}, qrels)
        _write_report(report_dir, systems, {name: result}, source, relevance_level, batch_size,
                      {name: model_path} if run_path is None else None, quiet)
    if run_out:
        write_run(run, run_out, tag=run_tag)
        _say(f"run written to {run_out}", quiet)
    if per_query_path:
        write_per_query(result, per_query_path)
        _say(f"per-query metrics written to {per_query_path}", quiet)
    means = {**result.means, **extra}
    if as_json:
        click.echo(json.dumps({**means, "num_queries": result.num_queries}))
    else:
        click.echo(format_table(means, result.num_queries))


def _systems_json(columns: dict, results: dict) -> str:
    """Several systems' metrics as one shape: {"systems": [{"name", "metrics", "num_queries"}, ...]}."""
    return json.dumps({"systems": [{"name": name, "metrics": means, "num_queries": results[name].num_queries}
                                   for name, means in columns.items()]})


def _evaluate_pairs(pairs_path, model_name, batch_size, as_json, progress) -> None:
    from .data import load_examples
    from .evaluate import evaluate_pairs

    examples = load_examples(pairs_path)
    result = evaluate_pairs(_load_model(model_name), examples, batch_size=batch_size, progress=progress)
    if as_json:
        click.echo(json.dumps(result))
        return
    width = max(map(len, result))
    for name, value in result.items():
        click.echo(f"{name:<{width}}  {value}" if name == "num_pairs" else f"{name:<{width}}  {value:.4f}")


def _load_files(corpus_path, queries_path: str, qrels_path: str):
    from .data import RetrievalData, check_qrels, load_corpus, load_qrels, load_queries

    corpus = load_corpus(corpus_path) if corpus_path else None
    queries, qrels = load_queries(queries_path), load_qrels(qrels_path)
    check_qrels(qrels, corpus, queries, source=qrels_path)
    return RetrievalData(corpus or {}, {q: queries[q] for q in qrels if q in queries}, qrels)


def _exact_search(bundle, model_name, k, batch_size, progress, quiet, filter_=None):
    """The run of exact search over the bundle's corpus, with the model and the in-memory index it used."""
    from .data.fields import field_kinds
    from .index import ExactIndex
    from .index.filters import checked_filter
    from .search.retriever import Retriever

    # checked against the corpus's fields before any encoding
    filter_ = checked_filter(filter_, lambda: field_kinds(doc.fields for doc in bundle.corpus.values()))
    model = _load_model(model_name)
    _say(f"encoding {len(bundle.corpus)} documents and {len(bundle.queries)} queries", quiet)
    index = ExactIndex.build(model, bundle.corpus, batch_size=batch_size, progress=progress)
    run = Retriever(model, index, batch_size=batch_size, progress=progress).search(bundle.queries, k=k, filter=filter_)
    return run, model, index


def _model_label(name) -> str:
    from .encoding import DEFAULT_MODEL

    if name is None:
        return DEFAULT_MODEL
    return Path(str(name)).name or str(name)


def _two_labels(a, b) -> tuple[str, str]:
    la, lb = _model_label(a), _model_label(b)
    return (la, lb) if la != lb else (f"A: {la}", f"B: {lb}")


def _write_report(folder, systems, results, bundle, relevance_level, batch_size, model_paths, quiet) -> None:
    """The report of ``systems`` ((name, run, (model, index) or None) triples) scored as ``results``."""
    from .report import System, model_distances, training_log_of, write_report

    built = []
    for name, run, searcher in systems:
        distances = None
        if searcher is not None and bundle.queries:
            model, index = searcher
            distances = model_distances(model, bundle.queries, bundle.qrels, run, index,
                                        relevance_level=relevance_level, batch_size=batch_size)
        built.append(System(name, results[name], run, distances,
                            training_log_of((model_paths or {}).get(name))))
    written = write_report(folder, built, bundle.qrels, relevance_level=relevance_level)
    if all(s.distances is None for s in built):
        _say("the report has no distance histograms: they need a model's embeddings (give --data or --index)",
             quiet)
    _say(f"report written to {folder}: {', '.join(p.name for p in written)}", quiet)


def _index_runs(bundle, index_dir, model_name, k, ef, batch_size, check_recall, modes, fusion, progress, quiet,
                filter_=None):
    """The runs of an index (or of shards searched together) over the bundle's queries, one per mode, and
    HNSW recall@10 against exact search if asked."""
    from .index.building import hnsw_recall
    from .index.shards import load_indexes
    from .search.retriever import Retriever

    index = load_indexes(index_dir)
    filter_ = index.check_filter(filter_)  # before the model loads
    if bundle.corpus:
        missing = sum(1 for doc_id in bundle.corpus if doc_id not in index)
        if missing:
            from .errors import warn

            warn(f"{missing} corpus document(s) are not in the index {', '.join(map(str, index_dir))}")
    if ef is not None:
        index.ef = ef
    model = _load_index_model(index, model_name) if check_recall or modes != ("lexical",) else None
    _say(f"searching {len(index)} documents for {len(bundle.queries)} queries ({', '.join(modes)})", quiet)
    retrievers = {mode: Retriever(model, index, mode=mode, batch_size=batch_size, progress=progress, **fusion)
                  for mode in modes}
    texts = list(bundle.queries.values())
    # Every mode but lexical, and the recall check, need the same query embeddings: encode them once.
    embeddings = next(iter(retrievers.values())).encode(texts) if model is not None and texts else None
    runs = {mode: r.search(bundle.queries, k=k, embeddings=embeddings, filter=filter_)
            for mode, r in retrievers.items()}
    if not check_recall:
        return runs, {}, model, index
    return runs, {"hnsw_recall@10": hnsw_recall(index, embeddings, 10) if embeddings is not None else 0.0}, \
        model, index


def _read_ids(value: str) -> list[str]:
    """Doc ids from a file (one per line) or a comma-separated list."""
    from .data import read_text

    if Path(value).is_file():
        return [line.strip() for line in read_text(value).splitlines() if line.strip()]
    return [part.strip() for part in value.split(",") if part.strip()]


@cli.command("index")
@click.option("--corpus", "corpus_path", metavar="PATH", required=True, help=CORPUS_HELP)
@click.option("--output", metavar="DIR", required=True, help="The index folder to write.")
@model_option
@encoder_options
@click.option("--space", type=click.Choice(["cosine", "ip", "l2"]), default=None,
              help="Similarity space [default: the model's own, cosine for most].")
@click.option("--m", "m", default=16, show_default=True, type=click.IntRange(min=2), help="HNSW links per node.")
@click.option("--ef-construction", default=200, show_default=True, type=click.IntRange(min=1),
              help="HNSW build-time search depth.")
@click.option("--ef", default=100, show_default=True, type=click.IntRange(min=1),
              help="Default HNSW search depth, stored in the manifest.")
@batch_option
@click.option("--chunk-size", default=512, show_default=True, type=click.IntRange(min=1),
              help="Documents per resumable encoding chunk.")
@click.option("--lexical", is_flag=True, help="Also build the BM25 side, for --mode lexical and hybrid.")
@lexical_options
@click.option("--shard", metavar="i/N", default=None,
              help="Index only shard i of N (0 <= i < N; documents split by a hash of their id). Search the "
                   "N shard indexes together with `search --index A --index B ...`.")
@click.option("--overwrite", is_flag=True, help="Replace an existing index at --output.")
@json_option("command, output, documents, dim, space, model, shard (\"i/N\" or null), lexical, seconds")
@quiet_option
@lock_option("output")
def index_command(corpus_path, output, model_name, space, m, ef_construction, ef, batch_size, chunk_size,
                  lexical, stemmer, stopwords, shard, overwrite, as_json, quiet) -> None:
    """Encode a corpus and build an HNSW index folder (an interrupted build resumes when run again)."""
    from .data import load_corpus
    from .index import index_exists
    from .index.building import build_index
    from .index.lexical import LexicalSettings
    from .index.shards import parse_shard

    progress = _setup(quiet)
    start = time.perf_counter()
    out = Path(output)
    if out.exists() and not overwrite and not (out.is_dir() and not any(out.iterdir())):
        hint = "or `textmetric add` to add to it" if index_exists(out) else "or choose another folder"
        raise InputError(f"already exists: pass --overwrite to replace it, {hint}", out)
    settings = LexicalSettings.named(stopwords, stemmer) if lexical else None  # fails before any encoding
    part = parse_shard(shard) if shard else None
    corpus = load_corpus(corpus_path)
    model = _load_model(model_name)
    if part:
        _say(f"indexing shard {part[0]}/{part[1]} of {len(corpus)} documents into {out}", quiet)
    else:
        _say(f"indexing {len(corpus)} documents into {out}", quiet)
    try:
        index = build_index(model, corpus, out, model_name=model_name, space=space, m=m,
                            ef_construction=ef_construction, ef=ef, batch_size=batch_size, chunk_size=chunk_size,
                            lexical=settings, shard=part, progress=progress)
    except KeyboardInterrupt:
        _say("the documents encoded so far are kept: run the same command again to resume", quiet)
        raise
    _report(as_json, quiet, {"command": "index", "output": str(out), "documents": len(index), "dim": index.dim,
                             "space": index.space, "model": (index.model or {}).get("name"),
                             "shard": f"{part[0]}/{part[1]}" if part else None, "lexical": settings is not None,
                             "seconds": _seconds(start)},
            f"index written to {out}: {len(index)} documents, dim {index.dim}, space {index.space}")


@cli.command("index-lexical")
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@lexical_options
@json_option("command, index, documents, seconds")
@quiet_option
@lock_option("index_dir")
def index_lexical(index_dir, stemmer, stopwords, as_json, quiet) -> None:
    """Add the BM25 side to an existing index (or rebuild it with other settings); no model needed."""
    from .index import Index
    from .index.lexical import LexicalSettings

    _setup(quiet)
    start = time.perf_counter()
    settings = LexicalSettings.named(stopwords, stemmer)
    index = Index.load(index_dir)
    index.enable_lexical(settings)
    index.save(index_dir)
    _report(as_json, quiet, {"command": "index-lexical", "index": str(index_dir), "documents": len(index),
                             "seconds": _seconds(start)},
            f"lexical side built for the {len(index)} documents of {index_dir}")


@cli.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@click.option("--corpus", "corpus_path", metavar="PATH", required=True,
              help="Documents to add or replace. " + CORPUS_HELP)
@model_option
@encoder_options
@batch_option
@json_option("command, index, added, replaced, documents (now in the index), seconds")
@quiet_option
@lock_option("index_dir")
def add(index_dir, corpus_path, model_name, batch_size, as_json, quiet) -> None:
    """Add documents to an index; a document whose id is already there is replaced."""
    from .data import load_corpus
    from .index import Index
    from .index.building import add_documents

    progress = _setup(quiet)
    start = time.perf_counter()
    index = Index.load(index_dir)
    corpus = load_corpus(corpus_path)
    model = _load_index_model(index, model_name)
    added, replaced = add_documents(index, model, corpus, batch_size=batch_size, progress=progress)
    index.save(index_dir)
    _report(as_json, quiet, {"command": "add", "index": str(index_dir), "added": added, "replaced": replaced,
                             "documents": len(index), "seconds": _seconds(start)},
            f"added {added}, replaced {replaced}: {index_dir} holds {len(index)} documents")


@cli.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@click.option("--ids", "ids_arg", metavar="FILE_OR_LIST", required=True,
              help="A file with one doc id per line, or a comma-separated list.")
@json_option("command, index, deleted, not_found (ids not in the index), documents (left), seconds")
@quiet_option
@lock_option("index_dir")
def delete(index_dir, ids_arg, as_json, quiet) -> None:
    """Delete documents from an index; they never come back from a search (compact reclaims the space)."""
    from .errors import warn
    from .index import Index

    _setup(quiet)
    start = time.perf_counter()
    ids = _read_ids(ids_arg)
    if not ids:
        raise InputError(f"no ids to delete in '{ids_arg}'")
    index = Index.load(index_dir)
    missing = index.delete(ids)
    if missing:
        warn(f"{len(missing)} id(s) were not in the index (first: '{missing[0]}')")
    index.save(index_dir)
    deleted = len(set(ids)) - len(missing)
    _report(as_json, quiet, {"command": "delete", "index": str(index_dir), "deleted": deleted,
                             "not_found": len(missing), "documents": len(index), "seconds": _seconds(start)},
            f"deleted {deleted}: {index_dir} holds {len(index)} documents")


@cli.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@json_option("command, index, vectors_before, documents (vectors after), seconds")
@quiet_option
@lock_option("index_dir")
def compact(index_dir, as_json, quiet) -> None:
    """Rebuild an index's graph from its live documents, reclaiming the space deleted ones take."""
    from .index import Index

    _setup(quiet)
    start = time.perf_counter()
    index = Index.load(index_dir)
    before = index.element_count
    index.compact().save(index_dir)
    _report(as_json, quiet, {"command": "compact", "index": str(index_dir), "vectors_before": before,
                             "documents": len(index), "seconds": _seconds(start)},
            f"compacted {index_dir}: {before} vectors -> {len(index)}")


@cli.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="An index built with the adapter's encoder.")
@click.option("--model", "model_name", metavar="PATH", required=True, help="A model trained with --adapter linear.")
@click.option("--output", metavar="DIR", required=True, help="The re-projected index folder to write.")
@json_option("command, index, output, documents, dim, space, seconds")
@quiet_option
@lock_option("output")
def reproject(index_dir, model_name, output, as_json, quiet) -> None:
    """Apply a linear adapter's W to an index's stored vectors: a new index without re-encoding the corpus."""
    from .training.adapter import reproject_index
    from .encoding import load_model
    from .index import Index

    _setup(quiet)
    start = time.perf_counter()
    if Path(output).exists():
        raise InputError("already exists: choose another output folder", output)
    fresh = reproject_index(Index.load(index_dir), load_model(model_name), output, adapted_name=model_name)
    _report(as_json, quiet, {"command": "reproject", "index": str(index_dir), "output": str(output),
                             "documents": len(fresh), "dim": fresh.dim, "space": fresh.space,
                             "seconds": _seconds(start)},
            f"re-projected {len(fresh)} documents into {output} (space {fresh.space}, dim {fresh.dim})")


@cli.command()
@click.argument("query", nargs=-1)
@click.option("--index", "index_dir", metavar="DIR", required=True, multiple=True,
              help="The index folder; repeat it to search the shards of one corpus together (merged top k).")
@click.option("--queries", "queries_path", metavar="PATH",
              help=QUERIES_HELP + " Instead of QUERY, whose ids are their positions from 0.")
@click.option("-k", "--top-k", "k", default=10, show_default=True, type=click.IntRange(min=1),
              help="Hits per query (clamped to the number of documents).")
@click.option("--ef", type=click.IntRange(min=1), default=None, help="HNSW search depth [default: the index's].")
@hybrid_options(("dense", "lexical", "hybrid"))
@model_option
@encoder_options
@batch_option
@click.option("--snippet", type=click.IntRange(min=4), default=None, metavar="N",
              help=f"Show at most N characters of each hit's text [default: the whole text with --json, "
                   f"{_TABLE_SNIPPET} in the table].")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per query, one per line: query_id, query, score_kind (cosine, ip, l2, bm25, "
                   "rrf or score-fusion) and hits [{rank, doc_id, score, title, text, fields}].")
@filter_option
@click.option("--run-out", "run_out", metavar="FILE", help="Write the hits as a TREC run file.")
@run_tag_option
@quiet_option
def search(query, index_dir, queries_path, k, ef, mode, fusion, alpha, rrf_k, depth, model_name, batch_size,
           snippet, as_json, filter_, run_out, run_tag, quiet) -> None:
    """Search an index for QUERY (one or more) or for every query of --queries."""
    from .data import load_queries, number_queries
    from .evaluate import write_run
    from .metrics import rank
    from .index.shards import load_indexes
    from .search.retriever import Retriever

    progress = _setup(quiet)
    if bool(query) == bool(queries_path):
        raise click.UsageError("give QUERY text or --queries FILE (one of them)")
    queries = load_queries(queries_path) if queries_path else number_queries(query)
    index = load_indexes(index_dir)
    filter_ = index.check_filter(filter_)  # before the model loads
    if ef is not None:
        index.ef = ef
    model = None if mode == "lexical" else _load_index_model(index, model_name)
    retriever = Retriever(model, index, mode=mode, batch_size=batch_size, progress=progress,
                          **_fusion(fusion, alpha, rrf_k, depth))
    run = retriever.search(queries, k=k, filter=filter_)
    if run_out:
        write_run(run, run_out, tag=run_tag)
        _say(f"run written to {run_out}", quiet)
        if not as_json:
            return
    for qid, text in queries.items():
        ranked = rank(run[qid])
        if as_json:
            hits = []
            for r, d in enumerate(ranked, start=1):
                doc = index.document(d)
                hits.append({"rank": r, "doc_id": d, "score": run[qid][d], "title": doc.title,
                             "text": doc.text if snippet is None else _snippet(doc.text, snippet),
                             "fields": doc.fields})
            click.echo(json.dumps({"query_id": qid, "query": text, "score_kind": retriever.score_kind,
                                   "hits": hits}))
        else:
            click.echo(_hits_table(text, ranked, run[qid], index, retriever.score_kind, snippet or _TABLE_SNIPPET))


def _snippet(text: str, length: int) -> str:
    """``text`` on one line, cut to at most ``length`` characters (at a word where it can, then "...")."""
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    cut = text[:length - 3]
    if " " in cut[length // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip() + "..."


def _hits_table(query: str, ranked: list[str], scores: dict, index, kind: str, width: int) -> str:
    heading = f"score ({kind})"
    column = max(7, len(heading))
    lines = [f"query: {query}", f"{'rank':>4}  {heading:>{column}}  {'doc id':<20}  title: text"]
    for position, doc_id in enumerate(ranked, start=1):
        doc = index.document(doc_id)
        label = _snippet(f"{doc.title}: {doc.text}" if doc.title else doc.text, width)
        lines.append(f"{position:>4}  {scores[doc_id]:>{column}.4f}  {doc_id:<20}  {label}")
    return "\n".join(lines) + "\n"


@cli.command()
@click.option("--data", "data_dir", metavar="DIR",
              help="A BEIR folder: its --split qrels give the (query, positive) pairs, and the dev split.")
@click.option("--split", default="train", show_default=True, help="Qrels split of the BEIR folder to train on.")
@click.option("--examples", "examples_path", metavar="PATH",
              help="Instead of --data: a jsonl/csv/parquet/arrow file or `datasets` save_to_disk folder of "
                   "(query, positive), (anchor, positive, negative) or (text_a, text_b, label) rows.")
@click.option("--output", metavar="DIR", required=True, help="The model folder to write.")
@model_option
@click.option("--loss", type=click.Choice(list(LOSS_SPECS)), default=DEFAULT_LOSS, show_default=True,
              help="Training objective.")
@click.option("--margin", type=float, default=None, help="Margin m of the contrastive/triplet losses.")
@click.option("--distance", type=click.Choice(list(DISTANCES)), default=None,
              help=f"Distance d of the contrastive/triplet losses [default: {DEFAULT_DISTANCE}].")
@click.option("--hard-negatives", metavar="FILE|auto|none", default="auto", show_default=True,
              help="For a BEIR folder: negatives mined now with the starting model (auto), from a "
                   "`textmetric mine` file, or random ones (none). Example files bring their own.")
@click.option("--negatives-per-pair", default=1, show_default=True, type=click.IntRange(min=1),
              help="Negatives per (query, positive) pair.")
@click.option("--epochs", default=3.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Passes over the training rows (a fraction stops part-way through the last).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Examples per step and process: under torchrun or accelerate launch a step sees "
                   "batch-size × processes, and mnrl gathers its in-batch negatives from all of them.")
@click.option("--lr", default=2e-5, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Peak learning rate (AdamW, linear warm-up over the first 10% of steps, then linear decay).")
@click.option("--max-seq-length", default=None, type=click.IntRange(min=8), help="Truncate texts to this many tokens.")
@click.option("--dev-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of training queries held out as the dev split (fixed seed).")
@click.option("--dev-corpus-size", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Documents the dev queries are searched among (their judged ones plus random others).")
@click.option("--eval-steps", default=None, type=click.IntRange(min=1),
              help="Evaluate the dev split (and checkpoint) every N steps [default: every epoch].")
@click.option("--logging-steps", default=10, show_default=True, type=click.IntRange(min=1),
              help="Record the training loss in training_log.json every N steps.")
@click.option("--seed", default=42, show_default=True, type=int,
              help="Seed of the dev split, the random negatives, the batch order and dropout.")
@click.option("--adapter", type=click.Choice(["linear"]), default=None,
              help="Train only a linear map W on the frozen encoder (d = ||W(x - y)||): seconds, not minutes.")
@click.option("--keep-last", is_flag=True,
              help="Save the last checkpoint, not the one best on the dev split (the starting model included).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint.")
@prompt_options
@json_option("command, output, saved (best, start or last), dev_metric, dev_before, dev_after, improvement, "
             "best_metric, summary, train_rows, train_seconds, log (the training_log.json path)")
@quiet_option
def train(data_dir, split, examples_path, output, model_name, loss, margin, distance, hard_negatives,
          negatives_per_pair, epochs, batch_size, lr, max_seq_length, dev_fraction, dev_corpus_size, eval_steps,
          logging_steps, seed, adapter, keep_last, resume, as_json, quiet) -> None:
    """Fine-tune a bi-encoder with a metric-learning loss; keeps the checkpoint best on the dev split, or the
    starting model when no checkpoint beats it.

    Data-parallel under `torchrun --nproc_per_node N -m textmetric train ...` or `accelerate launch`.
    """
    from .data import is_saved_dataset
    from .training.trainer import TrainConfig, fine_tune, rank_and_world_size

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
                         eval_steps=eval_steps, logging_steps=logging_steps, adapter=adapter, split=split,
                         keep_last=keep_last, **_prompts())
    try:
        log = fine_tune(data_dir or examples_path, output, model_name=model_name, config=config, resume=resume,
                        progress=progress)
    except KeyboardInterrupt:
        _say("checkpoints are kept: run the same command with --resume to continue", quiet)
        raise
    if not speaks:
        return
    keys = ("saved", "dev_metric", "dev_before", "dev_after", "improvement", "best_metric", "summary",
            "train_rows", "train_seconds")
    _report(as_json, quiet, {"command": "train", "output": str(output), **{key: log.get(key) for key in keys},
                             "log": str(Path(output) / "training_log.json")},
            f"model written to {output} ({log['train_rows']} training rows, {log['train_seconds']:.0f} s): "
            f"{log['summary']}")


@cli.command()
@click.option("--data", "data_dir", metavar="DIR", required=True, help="A BEIR folder.")
@click.option("--split", default="train", show_default=True, help="Qrels split whose queries get negatives.")
@click.option("--output", metavar="FILE", required=True, help="The triplets file to write (jsonl).")
@model_option
@encoder_options
@click.option("--index", "index_dir", metavar="DIR", default=None,
              help="Search this index of the corpus instead of encoding it (its model by default).")
@click.option("--negatives", default=5, show_default=True, type=click.IntRange(min=1), help="Negatives per query.")
@click.option("--skip-top", default=0, show_default=True, type=click.IntRange(min=0),
              help="Pass over the first N hits (they often hold unjudged relevant documents).")
@click.option("--max-rank", default=50, show_default=True, type=click.IntRange(min=1),
              help="Take negatives from the top N hits only.")
@batch_option
@json_option("command, output, triplets, queries, seconds")
@quiet_option
def mine(data_dir, split, output, model_name, index_dir, negatives, skip_top, max_rank, batch_size, as_json,
         quiet) -> None:
    """Write (anchor, positive, negative) triplets whose negatives are the model's top-ranked non-relevant docs."""
    from .data import load_beir
    from .training.mining import mine_hard_negatives, write_triplets

    progress = _setup(quiet)
    start = time.perf_counter()
    data = load_beir(data_dir, split)
    if index_dir:
        from .index import Index

        index = Index.load(index_dir)
        model = _load_index_model(index, model_name)
    else:
        from .index import ExactIndex

        model = _load_model(model_name)
        _say(f"encoding {len(data.corpus)} documents", quiet)
        index = ExactIndex.build(model, data.corpus, batch_size=batch_size, progress=progress)
    mined = mine_hard_negatives(model, index, data.queries, data.qrels, negatives=negatives, skip_top=skip_top,
                                max_rank=max_rank, batch_size=batch_size, progress=progress)
    count = write_triplets(output, data.queries, data.corpus, data.qrels, mined)
    _report(as_json, quiet, {"command": "mine", "output": str(output), "triplets": count, "queries": len(mined),
                             "seconds": _seconds(start)},
            f"{count} triplets for {len(mined)} queries written to {output}")


def _demo_defaults():
    from .demo import DEFAULT_WORKDIR, DemoConfig

    return DEFAULT_WORKDIR, DemoConfig.epochs


@cli.command()
@click.option("--output", metavar="DIR", default=_demo_defaults()[0], show_default=True,
              help="The folder everything the demo writes goes to (a previous demo's outputs there are replaced).")
@click.option("--workdir", "old_workdir", metavar="DIR", hidden=True, help="The old spelling of --output.")
@click.option("--quick", is_flag=True,
              help="A smaller slice (the well-known stdlib modules) for a run of a few minutes on a laptop CPU.")
@model_option
@click.option("--epochs", default=_demo_defaults()[1], show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Fine-tuning epochs over the train split.")
@json_option("command, output, files (relative to output), seconds, and what demo.json records: config, "
             "timings, dataset, zero-shot and fine-tuned metrics, comparison, training")
@quiet_option
def demo(output, old_workdir, quick, model_name, epochs, as_json, quiet) -> None:
    """The whole job on the embedded stdlib dataset: zero-shot, fine-tune, index, evaluate, compare."""
    from .demo import MARKER, DemoConfig, run_demo

    progress = _setup(quiet)
    workdir = _renamed("output", "--output", old_workdir, "--workdir")
    result = run_demo(DemoConfig(workdir=workdir, model=model_name, quick=quick, epochs=epochs),
                      echo=(lambda text: None) if as_json else click.echo,
                      say=lambda message: _say(message, quiet), progress=progress)
    if as_json:
        recorded = json.loads((Path(workdir) / MARKER).read_text(encoding="utf-8"))
        click.echo(json.dumps({"command": "demo", "output": str(workdir), "files": result.files,
                               **{k: v for k, v in recorded.items() if k != "status"}}))


@cli.command("export-demo-data")
@click.option("--output", metavar="DIR", help="The BEIR folder to write (required).")
@click.argument("old_folder", required=False, cls=_HiddenArgument)
@click.option("--quick", is_flag=True, help="Only the well-known modules, the slice `demo --quick` uses.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --output folder.")
@json_option("command, output, documents, train_queries, test_queries, train_modules, test_modules, seconds")
@quiet_option
def export_demo_data(output, old_folder, quick, overwrite, as_json, quiet) -> None:
    """Write the embedded stdlib dataset as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/train.tsv,
    qrels/test.tsv), built from this Python's standard library."""
    from .datasets import QUICK_MODULES, export_stdlib

    _setup(quiet)
    start = time.perf_counter()
    folder = _renamed("output", "--output DIR", old_folder, "export-demo-data DIR")
    if not folder:
        raise click.UsageError("give the folder to write: --output DIR")
    collection = export_stdlib(folder, modules=QUICK_MODULES if quick else None, overwrite=overwrite)
    counts = {"documents": len(collection.corpus), "train_queries": len(collection.qrels["train"]),
              "test_queries": len(collection.qrels["test"]), "train_modules": len(collection.modules["train"]),
              "test_modules": len(collection.modules["test"])}
    _report(as_json, quiet, {"command": "export-demo-data", "output": str(folder), **counts,
                             "seconds": _seconds(start)},
            f"wrote {folder}: {counts['documents']} documents, {counts['train_queries']} train queries "
            f"({counts['train_modules']} modules), {counts['test_queries']} test queries "
            f"({counts['test_modules']} other modules)")


@cli.command()
@click.option("--run", "runs", metavar="FILE", multiple=True,
              help="A TREC run file; give two, --run A --run B: B is compared against A.")
@click.argument("old_runs", nargs=-1, cls=_HiddenArgument)
@click.option("--qrels", "qrels_path", metavar="PATH", required=True, help=QRELS_HELP)
@click.option("--metrics", "metrics_text", default=None, metavar="LIST",
              help="Comma-separated metric names, as for evaluate (ours, trec_eval's or ranx/BEIR's, any case) "
                   "[default: map,map@100,ndcg@10,mrr@10,recall@100,p@10].")
@click.option("--relevance-level", default=1, show_default=True, type=int,
              help="Lowest grade that counts as relevant (not used by nDCG).")
@click.option("--complete", is_flag=True,
              help="Compare over every judged query, a run missing one scoring 0 there (trec_eval -c); "
                   "by default only the judged queries present in both runs are compared.")
@click.option("--permutations", default=10_000, show_default=True, type=click.IntRange(min=1),
              help="Random sign flips of the randomisation test (exact enumeration when 2^n is smaller).")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the randomisation test.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object instead of a table: a, b (the run paths), num_queries, only_in_a, "
                   "only_in_b, complete, permutations, seed, and metrics {name: {mean_a, mean_b, difference, t, "
                   "p_t_test, p_randomization, improved, worsened, tied}}.")
@quiet_option
def compare(runs, old_runs, qrels_path, metrics_text, relevance_level, complete, permutations, seed, as_json,
            quiet) -> None:
    """Compare two TREC runs query by query: means, B - A, a paired t-test and a paired randomisation test,
    and how many queries B improves, worsens or ties."""
    from .compare import compare_runs, format_comparison
    from .data import load_qrels
    from .evaluate import read_run
    from .metrics import DEFAULT_METRICS

    _setup(quiet)
    runs = _renamed("runs", "--run A --run B", old_runs, "compare A B")
    if len(runs) != 2:
        raise click.UsageError(f"give two runs, --run A --run B (got {len(runs)})")
    run_a, run_b = runs
    metrics = _metric_names(metrics_text) if metrics_text else list(DEFAULT_METRICS)
    qrels = load_qrels(qrels_path)
    a, b = read_run(run_a), read_run(run_b)
    result = compare_runs(a, b, qrels, metrics, relevance_level=relevance_level, complete=complete,
                          permutations=permutations, seed=seed)
    if as_json:
        click.echo(json.dumps({"a": run_a, "b": run_b, **result.as_dict()}))
        return
    which = "every judged query, a missing one scoring 0" if complete else "judged queries present in both runs"
    click.echo(f"A: {run_a}\nB: {run_b}\nqueries: {result.num_queries} ({which})\n")
    click.echo(format_comparison(result))
    method = (f"all 2^{result.num_queries} sign flips" if 2 ** result.num_queries <= permutations
              else f"{permutations:,} random sign flips, seed {seed}")
    click.echo(f"\nt-test: paired, two-sided; randomisation: paired sign flips, two-sided ({method})")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    if not (sys.argv[1:] if argv is None else argv):  # a bare `textmetric` asks for the help
        with click.Context(cli, info_name="textmetric", **cli.context_settings) as ctx:
            click.echo(cli.get_help(ctx))
        sys.exit(0)
    try:
        code = cli.main(args=argv, prog_name="textmetric", standalone_mode=False)
        sys.stdout.flush()  # a reader gone away shows here, while it can still be handled
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"textmetric: error: {e.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"textmetric: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except InputError as e:
        click.echo(f"textmetric: error: {e}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.Abort):
        click.echo("textmetric: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        _closed_pipe()
    except Exception as e:  # an unexpected failure: one line, the traceback on request
        if os.environ.get("TEXTMETRIC_DEBUG"):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        click.echo(f"textmetric: internal error: {type(e).__name__}: {first} "
                   f"(set TEXTMETRIC_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
