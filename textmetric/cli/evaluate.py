"""``evaluate`` (a run, a model over a corpus or an index, or labelled pairs) and ``compare`` (two runs)."""

from __future__ import annotations

from pathlib import Path

import click

from ..data import RetrievalData, load_beir, load_examples, load_qrels, load_retrieval_data
from ..evaluation.compare import (DEFAULT_PERMUTATIONS, DEFAULT_SEED, MAX_PERMUTATIONS, compare_runs,
                                  format_comparison)
from ..evaluation.formatting import to_json
from ..evaluation.report import check_report_folder
from ..evaluation.runs import check_run_ids, read_run, write_per_query, write_run
from ..evaluation.systems import (EVALUATION_TOP_K, SystemRun, evaluate_pairs, evaluate_systems,
                                  check_corpus_filter, exact_search, model_labels, search_index)
from ..search.retriever import MODES
from .options import (ALL_MODES, CORPUS_HELP, QRELS_HELP, QUERIES_HELP, _fusion_for, _HiddenArgument,
                      _load_index_model, _load_model, _metric_names, _renamed, batch_option, ef_type, encoder_options,
                      filter_option, hybrid_options, metrics_option, model_option, output_file, quiet_option,
                      ray_options, relevance_option, run_tag_option)
from .output import _say, _setup


@click.command()
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
@click.option("--ef", type=ef_type, default=None, help="HNSW search depth [default: the index's].")
@click.option("--check-recall", is_flag=True, help="With --index: also report HNSW recall@10 against exact search.")
@filter_option
@hybrid_options(with_all=True)
@model_option
@encoder_options
@click.option("-k", "--top-k", "k", default=EVALUATION_TOP_K, show_default=True, type=click.IntRange(min=1),
              help="Documents retrieved per query.")
@batch_option
@metrics_option("Comma-separated, any case: map, map@K, ndcg, ndcg@K, mrr, mrr@K, recall@K, p@K, r-precision, "
                "bpref, success@K; trec_eval's names (P_10, ndcg_cut_10, map_cut_100, recip_rank, Rprec, "
                "recall_100, success_10) and ranx/BEIR's (NDCG@10, precision@10, hit_rate@10) too, printed as given")
@relevance_option
@click.option("--complete", is_flag=True,
              help="Average over every qrels query; a query missing from the run scores 0 (trec_eval -c).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object instead of a table: the metric names as keys, plus num_queries; "
                   "with --mode all or --compare-model {\"systems\": [{name, metrics, num_queries}, ...]}; "
                   "with --pairs accuracy, f1, their thresholds, precision, recall and num_pairs.")
@click.option("--per-query", "per_query_path", metavar="FILE", callback=output_file,
              help="Write every metric of every query as CSV.")
@click.option("--run-out", "run_out", metavar="FILE", callback=output_file,
              help="Write the retrieved run as a TREC run file.")
@run_tag_option
@click.option("--report", "report_dir", metavar="DIR",
              help="Write a report folder: metrics.json, per_query.csv and PNG plots (distances of relevant and "
                   "hardest non-relevant pairs, recall@k, precision-recall, training curves).")
@click.option("--compare-model", "compare_model", metavar="NAME_OR_PATH",
              help="Also evaluate this model by exact search over the same data, side by side with --model "
                   "(with --report: before/after plots and paired significance tests).")
@ray_options
@quiet_option
def evaluate(run_path, data_dir, corpus_path, queries_path, qrels_path, pairs_path, split, index_dir, ef,
             check_recall, filter_, mode, model_name, k, batch_size, metrics_text, relevance_level, complete, as_json,
             per_query_path, run_out, run_tag, report_dir, compare_model, ray_address, encoders, quiet) -> None:
    """Score retrieval with trec_eval's metrics (an existing run, or a model searching a corpus or an index),
    or pair classification with --pairs."""
    progress = _setup(quiet)
    if pairs_path:
        if run_path or data_dir or corpus_path or queries_path or qrels_path or index_dir or report_dir \
                or compare_model or filter_ is not None:
            raise click.UsageError("--pairs scores pair classification: it takes only --model and --batch-size")
        _evaluate_pairs(pairs_path, model_name, batch_size, as_json, progress)
        return
    if report_dir:
        check_report_folder(report_dir)  # before any encoding
    if compare_model and (run_path or index_dir):
        raise click.UsageError("--compare-model runs exact search with both models: give --data or "
                               "--corpus/--queries/--qrels, not --run or --index")
    if compare_model and (run_out or per_query_path):
        raise click.UsageError("--compare-model evaluates two models: --run-out and --per-query take one "
                               "(use --report for both)")
    metrics = _metric_names(metrics_text)
    if filter_ is not None and (run_path or check_recall):
        raise click.UsageError("--filter restricts a search: it takes --data, --corpus or --index, "
                               "and not --run or --check-recall (which measures the whole graph)")
    if check_recall and not index_dir:
        raise click.UsageError("--check-recall compares an --index with exact search: give --index")
    if ray_address is not None and (run_path or index_dir or pairs_path):
        raise click.UsageError("--ray encodes the corpus of exact search: give --data or --corpus/--queries/--qrels, "
                               "not --run, --index or --pairs")
    if mode != "dense" and not index_dir:
        raise click.UsageError(f"--mode {mode} needs --index: exact search over a corpus has no lexical side "
                               f"(build an index with `textmetric index --lexical`)")
    if mode == ALL_MODES and (run_out or per_query_path):
        raise click.UsageError(f"--mode {ALL_MODES} compares three runs: --run-out and --per-query take one --mode")
    if run_path is not None:
        if data_dir or corpus_path or queries_path or model_name or run_out or index_dir:
            raise click.UsageError("--run scores an existing run: it takes only --qrels and scoring options")
        if not qrels_path:
            raise click.UsageError("--run needs --qrels")
        data = RetrievalData({}, {}, load_qrels(qrels_path))
        systems = [SystemRun(Path(run_path).name, read_run(run_path))]
    else:
        data = _load_data(data_dir, split, corpus_path, queries_path, qrels_path, index_dir)
        if run_out:
            check_run_ids(data.queries, "query")
            check_run_ids(data.corpus, "document")  # an index's ids are checked once it is loaded
        if index_dir:
            systems = _search_index(data, index_dir, model_name, MODES if mode == ALL_MODES else (mode,), k, ef,
                                    check_recall, batch_size, progress, quiet, filter_, bool(run_out))
        else:
            ray = None if ray_address is None else (ray_address, encoders, data_dir or corpus_path)
            systems = _exact_search(data, [model_name] + ([compare_model] if compare_model else []), k,
                                    batch_size, progress, quiet, filter_, ray)
    result = evaluate_systems(systems, data.qrels, metrics, relevance_level=relevance_level, complete=complete)
    if report_dir:
        written = result.write_report(report_dir, data.queries, batch_size=batch_size)
        if not any(path.name == "distances.png" for path in written):
            _say("the report has no distance histograms: they need a model's embeddings (give --data or --index)",
                 quiet)
        _say(f"report written to {report_dir}: {', '.join(p.name for p in written)}", quiet)
    if run_out:
        write_run(systems[0].run, run_out, tag=run_tag)
        _say(f"run written to {run_out}", quiet)
    if per_query_path:
        write_per_query(result.evaluations[systems[0].name], per_query_path)
        _say(f"per-query metrics written to {per_query_path}", quiet)
    click.echo(result.to_json() if as_json else result.table())


def _evaluate_pairs(pairs_path, model_name, batch_size, as_json, progress) -> None:
    examples = load_examples(pairs_path)  # a bad file fails before the model loads
    result = evaluate_pairs(_load_model(model_name), examples, batch_size=batch_size, progress=progress)
    if as_json:
        click.echo(to_json(result))
        return
    width = max(map(len, result))
    for name, value in result.items():
        click.echo(f"{name:<{width}}  {value}" if name == "num_pairs" else f"{name:<{width}}  {value:.4f}")


def _load_data(data_dir, split, corpus_path, queries_path, qrels_path, index_dir) -> RetrievalData:
    """The corpus, queries and qrels to search and score: a BEIR folder, or three files (no corpus with --index)."""
    if data_dir:
        if corpus_path or queries_path or qrels_path:
            raise click.UsageError("--data is a BEIR folder: give either it or --corpus/--queries/--qrels")
        return load_beir(data_dir, split)
    if (corpus_path or index_dir) and queries_path and qrels_path:
        return load_retrieval_data(corpus_path, queries_path, qrels_path)
    raise click.UsageError("give --run and --qrels, or --data DIR, or --corpus (or --index), --queries and --qrels")


def _exact_search(data, models, k, batch_size, progress, quiet, filter_=None, ray=None) -> list[SystemRun]:
    """One system per model, each searching the corpus exactly; ``ray`` = (address, encoders, corpus path):
    the corpus encoded on Ray."""
    filter_ = check_corpus_filter(filter_, data)  # before any model loads
    if ray is not None:
        from ..distributed.cluster import check_address

        check_address(ray[0])
    systems = []
    for name, model_name in zip(model_labels(*models), models):
        model = _load_model(model_name)
        _say(f"encoding {len(data.corpus)} documents{' on Ray' if ray else ''} and {len(data.queries)} queries",
             quiet)
        index = None
        if ray is not None:
            from ..distributed.build import exact_index_on_ray

            index = exact_index_on_ray(model, ray[2], model=model_name, address=ray[0], encoders=ray[1],
                                       batch_size=batch_size)
        systems.append(exact_search(model, data, name=name, model_path=model_name, k=k, batch_size=batch_size,
                                    progress=progress, filter=filter_, index=index))
    return systems


def _search_index(data, index_dir, model_name, modes, k, ef, check_recall, batch_size, progress,
                  quiet, filter_=None, run_out=False) -> list[SystemRun]:
    """One system per mode, searching an index (or shards searched together), with HNSW recall@10 if asked."""
    from ..index.shards import load_indexes

    index = load_indexes(index_dir)
    filter_ = index.check_filter(filter_)  # before the model loads
    if run_out:
        check_run_ids(index.ids, "document")
    if ef is not None:
        index.ef = ef
    model = _load_index_model(index, model_name) if check_recall or tuple(modes) != ("lexical",) else None
    _say(f"searching {len(index)} documents for {len(data.queries)} queries ({', '.join(modes)})", quiet)
    fusion, note = _fusion_for(index, model_name, modes)
    if note:
        _say(note, quiet)
    return search_index(index, model, data, modes, k=k, check_recall=check_recall, model_path=model_name,
                        source=", ".join(map(str, index_dir)), batch_size=batch_size, progress=progress,
                        filter=filter_, **fusion)


@click.command()
@click.option("--run", "runs", metavar="FILE", multiple=True,
              help="A TREC run file; give two, --run A --run B: B is compared against A.")
@click.argument("old_runs", nargs=-1, cls=_HiddenArgument)
@click.option("--qrels", "qrels_path", metavar="PATH", required=True, help=QRELS_HELP)
@metrics_option("Comma-separated metric names, as for evaluate (ours, trec_eval's or ranx/BEIR's, any case)")
@relevance_option
@click.option("--complete", is_flag=True,
              help="Compare over every judged query, a run missing one scoring 0 there (trec_eval -c); "
                   "by default only the judged queries present in both runs are compared.")
@click.option("--permutations", default=DEFAULT_PERMUTATIONS, show_default=True,
              type=click.IntRange(1, MAX_PERMUTATIONS),
              help="Random sign flips of the randomisation test (exact enumeration when 2^n is smaller).")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=click.IntRange(min=0),
              help="Seed of the randomisation test.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object instead of a table: a, b (the run paths), num_queries, only_in_a, "
                   "only_in_b, complete, permutations, seed, and metrics {name: {mean_a, mean_b, difference, t, "
                   "p_t_test, p_randomization, improved, worsened, tied}}.")
@quiet_option
def compare(runs, old_runs, qrels_path, metrics_text, relevance_level, complete, permutations, seed, as_json,
            quiet) -> None:
    """Compare two TREC runs query by query: means, B - A, a paired t-test and a paired randomisation test,
    and how many queries B improves, worsens or ties."""
    _setup(quiet)
    runs = _renamed("runs", "--run A --run B", old_runs, "compare A B")
    if len(runs) != 2:
        raise click.UsageError(f"give two runs, --run A --run B (got {len(runs)})")
    run_a, run_b = runs
    metrics = _metric_names(metrics_text)
    qrels = load_qrels(qrels_path)
    a, b = read_run(run_a), read_run(run_b)
    result = compare_runs(a, b, qrels, metrics, relevance_level=relevance_level, complete=complete,
                          permutations=permutations, seed=seed)
    if as_json:
        click.echo(to_json({"a": run_a, "b": run_b, **result.as_dict()}))
        return
    which = "every judged query, a missing one scoring 0" if complete else "judged queries present in both runs"
    click.echo(f"A: {run_a}\nB: {run_b}\nqueries: {result.num_queries} ({which})\n")
    click.echo(format_comparison(result))
    click.echo(f"\nt-test: paired, two-sided; randomisation: paired sign flips, two-sided ({result.sign_flips})")
