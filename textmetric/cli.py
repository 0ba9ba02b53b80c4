"""The ``textmetric`` command: a thin shell over the Python API.

Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 an
unexpected failure (one line; ``TEXTMETRIC_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from importlib import resources
from pathlib import Path

import click

from .errors import InputError

_WARNING_FORMAT = "textmetric: %(levelname)s: %(message)s"


class _LowerLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)


def _setup(quiet: bool) -> bool:
    """Route textmetric's warnings to stderr (silenced by ``--quiet``); return whether to show progress bars."""
    from .models import show_progress

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


quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="No progress bars and no messages on stderr (errors still show).")
model_option = click.option("--model", "model_name", metavar="NAME_OR_PATH", default=None,
                            help="A sentence-transformers model folder or cached name "
                                 "[default: the offline all-MiniLM-L6-v2].")
batch_option = click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
                            help="Texts per encoding batch.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="textmetric")
def cli() -> None:
    """textmetric: fine-tune, index, search and evaluate semantic text retrieval."""


def _metric_names(text: str) -> list[str]:
    from .metrics import parse_metric

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("name at least one metric", param_hint="--metrics")
    for name in names:
        parse_metric(name)  # fail before any encoding
    return names


@cli.command()
@click.option("--run", "run_path", metavar="FILE", help="Score an existing TREC run file (with --qrels).")
@click.option("--data", "data_dir", metavar="DIR", help="A BEIR folder: encode, search exactly and score.")
@click.option("--corpus", "corpus_path", metavar="FILE", help="Corpus file (jsonl/csv/tsv/parquet), with --queries and --qrels.")
@click.option("--queries", "queries_path", metavar="FILE", help="Queries file (jsonl/csv/tsv/parquet).")
@click.option("--qrels", "qrels_path", metavar="FILE", help="Judgments: BEIR tsv or TREC 4-column.")
@click.option("--split", default="test", show_default=True, help="Qrels split of the BEIR folder.")
@model_option
@click.option("-k", "--top-k", "k", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Documents retrieved per query.")
@batch_option
@click.option("--metrics", "metrics_text", default=None, metavar="LIST",
              help="Comma-separated: map, map@K, ndcg@K, mrr@K, recall@K, p@K, r-precision "
                   "[default: map,map@100,ndcg@10,mrr@10,recall@100,p@10].")
@click.option("--relevance-level", default=1, show_default=True, type=int,
              help="Lowest grade that counts as relevant (not used by nDCG).")
@click.option("--complete", is_flag=True, help="Average over every qrels query; a query missing from the run scores 0 (trec_eval -c).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--per-query", "per_query_path", metavar="FILE", help="Write every metric of every query as CSV.")
@click.option("--run-out", "run_out", metavar="FILE", help="Write the retrieved run as a TREC run file.")
@quiet_option
def evaluate(run_path, data_dir, corpus_path, queries_path, qrels_path, split, model_name, k, batch_size,
             metrics_text, relevance_level, complete, as_json, per_query_path, run_out, quiet) -> None:
    """Score retrieval with trec_eval's metrics: an existing run, or a model's exact search over a corpus."""
    from . import data as data_module
    from .evaluate import format_table, write_per_query, write_run
    from .metrics import DEFAULT_METRICS, evaluate as evaluate_run

    progress = _setup(quiet)
    metrics = _metric_names(metrics_text) if metrics_text else list(DEFAULT_METRICS)
    if run_path is not None:
        if data_dir or corpus_path or queries_path or model_name or run_out:
            raise click.UsageError("--run scores an existing run: it takes only --qrels and scoring options")
        if not qrels_path:
            raise click.UsageError("--run needs --qrels")
        from .evaluate import read_run

        qrels = data_module.load_qrels(qrels_path)
        run = read_run(run_path)
    else:
        if data_dir:
            if corpus_path or queries_path or qrels_path:
                raise click.UsageError("--data is a BEIR folder: give either it or --corpus/--queries/--qrels")
            bundle = data_module.load_beir(data_dir, split)
        elif corpus_path and queries_path and qrels_path:
            bundle = _load_files(corpus_path, queries_path, qrels_path)
        else:
            raise click.UsageError("give --run and --qrels, or --data DIR, or --corpus, --queries and --qrels")
        run = _exact_run(bundle, model_name, k, batch_size, progress, quiet)
        qrels = bundle.qrels
    result = evaluate_run(run, qrels, metrics, relevance_level=relevance_level, complete=complete)
    if run_out:
        write_run(run, run_out)
        _say(f"run written to {run_out}", quiet)
    if per_query_path:
        write_per_query(result, per_query_path)
        _say(f"per-query metrics written to {per_query_path}", quiet)
    if as_json:
        click.echo(json.dumps({**result.means, "num_queries": result.num_queries}))
    else:
        click.echo(format_table(result.means, result.num_queries))


def _load_files(corpus_path: str, queries_path: str, qrels_path: str):
    from .data import RetrievalData, check_qrels, load_corpus, load_qrels, load_queries

    corpus, queries, qrels = load_corpus(corpus_path), load_queries(queries_path), load_qrels(qrels_path)
    check_qrels(qrels, corpus, queries, source=qrels_path)
    return RetrievalData(corpus, {q: queries[q] for q in qrels if q in queries}, qrels)


def _exact_run(bundle, model_name, k, batch_size, progress, quiet):
    from .models import load_model
    from .retrieve import ExactIndex, Retriever

    model = load_model(model_name)
    _say(f"encoding {len(bundle.corpus)} documents and {len(bundle.queries)} queries", quiet)
    index = ExactIndex.build(model, bundle.corpus, batch_size=batch_size, progress=progress)
    return Retriever(model, index, batch_size=batch_size, progress=progress).search(bundle.queries, k=k)


def example_data_dir() -> Path:
    """The tiny collection shipped with the package (written for it, no third-party text)."""
    return Path(str(resources.files("textmetric") / "example"))


@cli.command()
@model_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@quiet_option
def demo(model_name, as_json, quiet) -> None:
    """Evaluate a model (default: all-MiniLM-L6-v2) on the small example collection shipped with textmetric."""
    from .data import load_beir
    from .evaluate import format_table
    from .metrics import DEFAULT_METRICS, evaluate as evaluate_run, rank

    progress = _setup(quiet)
    bundle = load_beir(example_data_dir(), "test")
    run = _exact_run(bundle, model_name, 1000, 32, progress, quiet)
    result = evaluate_run(run, bundle.qrels, DEFAULT_METRICS)
    if as_json:
        click.echo(json.dumps({**result.means, "num_queries": result.num_queries}))
        return
    click.echo(format_table(result.means, result.num_queries))
    if not quiet:
        first = next(iter(bundle.queries))
        click.echo(f"\nquery {first}: {bundle.queries[first]!r}")
        for position, doc_id in enumerate(rank(run[first])[:3], start=1):
            click.echo(f"  {position}. {run[first][doc_id]:.4f}  {doc_id}  {bundle.corpus[doc_id].title}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    try:
        code = cli.main(args=argv, prog_name="textmetric", standalone_mode=False)
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
        sys.stderr.close()  # the reader went away (e.g. `| head`): nothing left to say
        sys.exit(1)
    except Exception as e:  # an unexpected failure: one line, the traceback on request
        if os.environ.get("TEXTMETRIC_DEBUG"):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        click.echo(f"textmetric: internal error: {type(e).__name__}: {first} "
                   f"(set TEXTMETRIC_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
