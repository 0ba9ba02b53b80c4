"""``search``: query an index (or shards) and print the hits, as a table or JSON lines."""

from __future__ import annotations

import json

import click

from .options import (QUERIES_HELP, _fusion, _load_index_model, batch_option, encoder_options, hybrid_options,
                      model_option, quiet_option, run_tag_option)
from .output import _say, _setup

_TABLE_SNIPPET = 70  # characters of each hit's title and text in the search table


@click.command()
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
                   "rrf or score-fusion) and hits [{rank, doc_id, score, title, text}].")
@click.option("--run-out", "run_out", metavar="FILE", help="Write the hits as a TREC run file.")
@run_tag_option
@quiet_option
def search(query, index_dir, queries_path, k, ef, mode, fusion, alpha, rrf_k, depth, model_name, batch_size,
           snippet, as_json, run_out, run_tag, quiet) -> None:
    """Search an index for QUERY (one or more) or for every query of --queries."""
    from ..data import load_queries, number_queries
    from ..evaluation.runs import write_run
    from ..evaluation.metrics import rank
    from ..index.shards import load_indexes
    from ..search.retriever import Retriever

    progress = _setup(quiet)
    if bool(query) == bool(queries_path):
        raise click.UsageError("give QUERY text or --queries FILE (one of them)")
    queries = load_queries(queries_path) if queries_path else number_queries(query)
    index = load_indexes(index_dir)
    if ef is not None:
        index.ef = ef
    model = None if mode == "lexical" else _load_index_model(index, model_name)
    retriever = Retriever(model, index, mode=mode, batch_size=batch_size, progress=progress,
                          **_fusion(fusion, alpha, rrf_k, depth))
    run = retriever.search(queries, k=k)
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
                             "text": doc.text if snippet is None else _snippet(doc.text, snippet)})
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

