"""The options several commands share (inputs, the model and its encoding, search and scoring settings), the
hidden old spellings, and the help texts of the input options."""

from __future__ import annotations

import click

from ..errors import warn


def json_option(keys: str):
    """--json for a command whose report is one JSON object with ``keys`` (documented in its help)."""
    return click.option("--json", "as_json", is_flag=True,
                        help=f"Print one JSON object on stdout instead of the summary on stderr: {keys}.")


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
    from ..encoding import ROLES

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
    from ..encoding import ROLES

    settings = _encoding()
    return {key: {role: settings[f"{role}_{suffix}"] for role in ROLES
                  if settings.get(f"{role}_{suffix}") is not None} or None
            for key, suffix in (("prompts", "prompt"), ("prompt_names", "prompt_name"))}


def encoder_options(function):
    """--backend, --workers, --max-seq-length and the prompts for every command that encodes (kept in the click
    context)."""
    from ..encoding import BACKENDS

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
    from ..encoding import Encoder

    settings = _encoding()
    return Encoder.load(model_name, backend=settings.get("backend") or "torch", workers=settings.get("workers") or 1,
                        max_seq_length=settings.get("max_seq_length"), **_prompts())


def _load_index_model(index, model_name):
    """The index's model (or the given one, checked), on the command's backend and prompts or else the index's."""
    from ..index.building import load_index_model

    settings = _encoding()
    return load_index_model(index, model_name, backend=settings.get("backend"), workers=settings.get("workers") or 1,
                            max_seq_length=settings.get("max_seq_length"), **_prompts())


batch_option = click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
                            help="Texts per encoding batch.")


def run_tag_option(function):
    """--run-tag, for the commands that write runs (--run-out)."""
    from ..evaluation.runs import DEFAULT_RUN_TAG, check_run_tag

    return click.option("--run-tag", metavar="TAG", default=DEFAULT_RUN_TAG, show_default=True,
                        callback=lambda ctx, param, value: check_run_tag(value),
                        help="The tag column (the sixth) of the --run-out file: one word naming the system."
                        )(function)


def lexical_options(function):
    """The BM25 side's tokenisation, for `index --lexical` and `index-lexical` (recorded in the manifest)."""
    function = click.option("--stopwords", type=click.Choice(["en", "none"]), default="en", show_default=True,
                            help="Drop Lucene's 33 English stop words, or keep every word.")(function)
    return click.option("--stemmer", type=click.Choice(["english", "none"]), default="english",
                        show_default=True, help="Snowball stemming (PyStemmer), or none.")(function)


def hybrid_options(modes: tuple[str, ...]):
    """--mode and the fusion settings, for `search` and `evaluate`."""
    from ..search.fusion import DEFAULT_ALPHA, DEFAULT_RRF_K
    from ..search.retriever import DEFAULT_DEPTH

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


def _metric_names(text: str) -> list[str]:
    from ..evaluation.metrics import parse_metric

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

