"""``evaluate`` (a run, a model over a corpus or an index, or labelled pairs) and ``compare`` (two runs)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import (QRELS_HELP, CORPUS_HELP, QUERIES_HELP, _fusion, _load_index_model, _load_model,
                      _metric_names, _renamed, _HiddenArgument, batch_option, encoder_options, hybrid_options,
                      model_option, quiet_option, run_tag_option)
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
@click.option("--ef", type=click.IntRange(min=1), default=None, help="HNSW search depth [default: the index's].")
@click.option("--check-recall", is_flag=True, help="With --index: also report HNSW recall@10 against exact search.")
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
             check_recall, mode, fusion, alpha, rrf_k, depth, model_name, k, batch_size, metrics_text,
             relevance_level, complete, as_json, per_query_path, run_out, run_tag, report_dir, compare_model,
             quiet) -> None:
    """Score retrieval with trec_eval's metrics (an existing run, or a model searching a corpus or an index),
    or pair classification with --pairs."""
    from .. import data as data_module
    from ..evaluation.runs import write_per_query, write_run
    from ..evaluation.systems import format_modes_table, format_table
    from ..evaluation.metrics import DEFAULT_METRICS, evaluate as evaluate_run

    progress = _setup(quiet)
    if pairs_path:
        if run_path or data_dir or corpus_path or queries_path or qrels_path or index_dir or report_dir \
                or compare_model:
            raise click.UsageError("--pairs scores pair classification: it takes only --model and --batch-size")
        _evaluate_pairs(pairs_path, model_name, batch_size, as_json, progress)
        return
    if report_dir:
        from ..evaluation.report import check_report_folder

        check_report_folder(report_dir)  # before any encoding
    if compare_model and (run_path or index_dir):
        raise click.UsageError("--compare-model runs exact search with both models: give --data or "
                               "--corpus/--queries/--qrels, not --run or --index")
    if compare_model and (run_out or per_query_path):
        raise click.UsageError("--compare-model evaluates two models: --run-out and --per-query take one "
                               "(use --report for both)")
    metrics = _metric_names(metrics_text) if metrics_text else list(DEFAULT_METRICS)
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
        from ..evaluation.runs import read_run

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
                                                    modes, _fusion(fusion, alpha, rrf_k, depth), progress, quiet)
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
            run, model, index = _exact_search(bundle, model_name, k, batch_size, progress, quiet)
            systems = [(_model_label(model_name), run, (model, index))]
            model_path = model_name
            if compare_model:
                other_run, other_model, other_index = _exact_search(bundle, compare_model, k, batch_size, progress,
                                                                    quiet)
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
        from ..data import RetrievalData

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
    from ..data import load_examples
    from ..evaluation.systems import evaluate_pairs

    examples = load_examples(pairs_path)
    result = evaluate_pairs(_load_model(model_name), examples, batch_size=batch_size, progress=progress)
    if as_json:
        click.echo(json.dumps(result))
        return
    width = max(map(len, result))
    for name, value in result.items():
        click.echo(f"{name:<{width}}  {value}" if name == "num_pairs" else f"{name:<{width}}  {value:.4f}")


def _load_files(corpus_path, queries_path: str, qrels_path: str):
    from ..data import RetrievalData, check_qrels, load_corpus, load_qrels, load_queries

    corpus = load_corpus(corpus_path) if corpus_path else None
    queries, qrels = load_queries(queries_path), load_qrels(qrels_path)
    check_qrels(qrels, corpus, queries, source=qrels_path)
    return RetrievalData(corpus or {}, {q: queries[q] for q in qrels if q in queries}, qrels)


def _exact_search(bundle, model_name, k, batch_size, progress, quiet):
    """The run of exact search over the bundle's corpus, with the model and the in-memory index it used."""
    from ..index import ExactIndex
    from ..search.retriever import Retriever

    model = _load_model(model_name)
    _say(f"encoding {len(bundle.corpus)} documents and {len(bundle.queries)} queries", quiet)
    index = ExactIndex.build(model, bundle.corpus, batch_size=batch_size, progress=progress)
    return Retriever(model, index, batch_size=batch_size, progress=progress).search(bundle.queries, k=k), model, index


def _model_label(name) -> str:
    from ..encoding import DEFAULT_MODEL

    if name is None:
        return DEFAULT_MODEL
    return Path(str(name)).name or str(name)


def _two_labels(a, b) -> tuple[str, str]:
    la, lb = _model_label(a), _model_label(b)
    return (la, lb) if la != lb else (f"A: {la}", f"B: {lb}")


def _write_report(folder, systems, results, bundle, relevance_level, batch_size, model_paths, quiet) -> None:
    """The report of ``systems`` ((name, run, (model, index) or None) triples) scored as ``results``."""
    from ..evaluation.report import System, model_distances, training_log_of, write_report

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


def _index_runs(bundle, index_dir, model_name, k, ef, batch_size, check_recall, modes, fusion, progress, quiet):
    """The runs of an index (or of shards searched together) over the bundle's queries, one per mode, and
    HNSW recall@10 against exact search if asked."""
    from ..index.building import hnsw_recall
    from ..index.shards import load_indexes
    from ..search.retriever import Retriever

    index = load_indexes(index_dir)
    if bundle.corpus:
        missing = sum(1 for doc_id in bundle.corpus if doc_id not in index)
        if missing:
            from ..errors import warn

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
    runs = {mode: r.search(bundle.queries, k=k, embeddings=embeddings) for mode, r in retrievers.items()}
    if not check_recall:
        return runs, {}, model, index
    return runs, {"hnsw_recall@10": hnsw_recall(index, embeddings, 10) if embeddings is not None else 0.0}, \
        model, index


@click.command()
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
    from ..evaluation.compare import compare_runs, format_comparison
    from ..data import load_qrels
    from ..evaluation.runs import read_run
    from ..evaluation.metrics import DEFAULT_METRICS

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

