"""``search``: query an index (or shards) and print the hits, as a table or JSON lines."""

from __future__ import annotations

import click

from ..data import load_queries
from ..evaluation.formatting import to_json
from ..evaluation.runs import check_run_ids, write_run
from ..search.results import TABLE_SNIPPET, hits_table, query_record
from ..search.retriever import DEFAULT_TOP_K, Retriever
from .options import (QUERIES_HELP, _fusion_for, _load_index_model, batch_option, ef_type, encoder_options,
                      filter_option, hybrid_options, model_option, output_file, quiet_option, run_tag_option)
from .output import _say, _setup


@click.command()
@click.argument("query", nargs=-1)
@click.option("--index", "index_dir", metavar="DIR", required=True, multiple=True,
              help="The index folder; repeat it to search the shards of one corpus together (merged top k).")
@click.option("--queries", "queries_path", metavar="PATH",
              help=QUERIES_HELP + " Instead of QUERY, whose ids are their positions from 0.")
@click.option("-k", "--top-k", "k", default=DEFAULT_TOP_K, show_default=True, type=click.IntRange(min=1),
              help="Hits per query (clamped to the number of documents).")
@click.option("--ef", type=ef_type, default=None, help="HNSW search depth [default: the index's].")
@hybrid_options()
@model_option
@encoder_options
@batch_option
@click.option("--snippet", type=click.IntRange(min=4), default=None, metavar="N",
              help=f"Show at most N characters of each hit's text [default: the whole text with --json, "
                   f"{TABLE_SNIPPET} in the table].")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per query, one per line: query_id, query, score_kind (cosine, ip, l2, bm25, "
                   "rrf or score-fusion) and hits [{rank, doc_id, score, title, text, fields}].")
@filter_option
@click.option("--run-out", "run_out", metavar="FILE", callback=output_file,
              help="Write the hits as a TREC run file.")
@run_tag_option
@quiet_option
def search(query, index_dir, queries_path, k, ef, mode, model_name, batch_size, snippet, as_json, filter_, run_out,
           run_tag, quiet) -> None:
    """Search an index for QUERY (one or more) or for every query of --queries."""
    from ..index.shards import load_indexes

    progress = _setup(quiet)
    if bool(query) == bool(queries_path):
        raise click.UsageError("give QUERY text or --queries FILE (one of them)")
    queries = load_queries(queries_path or list(query))
    index = load_indexes(index_dir)
    filter_ = index.check_filter(filter_)  # before the model loads
    if run_out:
        check_run_ids(queries, "query")
        check_run_ids(index.ids, "document")
    if ef is not None:
        index.ef = ef
    model = None if mode == "lexical" else _load_index_model(index, model_name)
    fusion, note = _fusion_for(index, model_name, (mode,))
    if note:
        _say(note, quiet)
    retriever = Retriever(model, index, mode=mode, batch_size=batch_size, progress=progress, **fusion)
    run = retriever.search(queries, k=k, filter=filter_)
    if run_out:
        write_run(run, run_out, tag=run_tag)
        _say(f"run written to {run_out}", quiet)
        if not as_json:
            return
    for qid, text in queries.items():
        if as_json:
            click.echo(to_json(query_record(qid, text, run[qid], index, retriever.score_kind, snippet)))
        else:
            click.echo(hits_table(text, run[qid], index, retriever.score_kind, snippet or TABLE_SNIPPET))

