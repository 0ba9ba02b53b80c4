"""The options several commands share (inputs, the model and its encoding, search and scoring settings), the
hidden old spellings, and the help texts of the input options.

Every choice and default comes from the library's own constant, so the command line and the API never differ.
"""

from __future__ import annotations

import math

import click

from ..atomic import check_output_file
from ..encoding import BACKENDS, DEFAULT_BATCH_SIZE, DEFAULT_MODEL, ROLES
from ..errors import InputError, Range, warn
from ..evaluation.metrics import DEFAULT_METRICS, DEFAULT_RELEVANCE_LEVEL, parse_metric
from ..evaluation.runs import DEFAULT_RUN_TAG, check_run_tag
from ..index.lexical import DEFAULT_STEMMER, DEFAULT_STOPWORDS, STEMMERS, STOPWORD_LISTS
from ..index.vectors import MAX_EF, MAX_M
from ..search.fusion import ALPHA_RANGE, DEFAULT_ALPHA, DEFAULT_FUSION, DEFAULT_RRF_K, FUSIONS, RRF_K_RANGE
from ..search.retriever import DEFAULT_DEPTH, DEFAULT_MODE, MODES
from ..training.config import AUTO_LENGTH

ALL_MODES = "all"  # evaluate --mode all: every retrieval mode, side by side


class _FiniteFloatRange(click.FloatRange):
    """A float option that takes the values of a library :class:`~textmetric.errors.Range`: click's own
    FloatRange lets NaN (which no comparison refuses) and the infinities through."""

    def __init__(self, allowed: Range) -> None:
        super().__init__(allowed.min, allowed.max, min_open=allowed.min_open, max_open=allowed.max_open)
        self.allowed = allowed

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number.", param, ctx)
        return number


def finite(allowed: Range) -> click.FloatRange:
    """The type of a float option whose values are the library's ``allowed`` range (finite, within its bounds)."""
    return _FiniteFloatRange(allowed)


def output_file(ctx: click.Context, param: click.Parameter, value):
    """The callback of an option naming a file the command writes: refused before any work when it could not be
    written (a folder, a path under a file)."""
    if value is not None:
        try:
            check_output_file(value)
        except InputError as e:
            raise click.BadParameter(str(e), ctx, param) from None
    return value


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
                                 f"[default: the offline {DEFAULT_MODEL}].")


def _keep_in(group: str):
    """A callback that keeps an option's value in the click context under ``group`` (see :func:`_settings`)."""
    def keep(ctx: click.Context, param: click.Parameter, value):
        ctx.meta.setdefault(f"textmetric.{group}", {})[param.name] = value
        return value

    return keep


def _settings(group: str) -> dict:
    """The values of a group of options kept in the click context: the encoding or the fusion settings."""
    return click.get_current_context().meta.get(f"textmetric.{group}", {})


_store_encoding = _keep_in("encoding")


def prompt_options(function):
    """The query and document prompts, by text or by the name of one of the model's (kept in the click context)."""
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
    settings = _settings("encoding")
    return {key: {role: settings[f"{role}_{suffix}"] for role in ROLES
                  if settings.get(f"{role}_{suffix}") is not None} or None
            for key, suffix in (("prompts", "prompt"), ("prompt_names", "prompt_name"))}


# HNSW's settings: the library refuses more links than hnswlib keeps, or depths its C integers cannot hold.
ef_type = click.IntRange(1, MAX_EF)
m_type = click.IntRange(2, MAX_M)

# The tokens a model reads: the library refuses fewer than one, or more than the model's positions hold.
seq_length_type = click.IntRange(min=1)


class _LengthOrAuto(click.ParamType):
    """A number of tokens (at least 1), or ``auto``."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == AUTO_LENGTH:
            return value
        try:
            return seq_length_type.convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is neither a number of tokens (at least 1) nor '{AUTO_LENGTH}'", param, ctx)


train_length_type = _LengthOrAuto()


def encoder_options(function):
    """--backend, --workers, --max-seq-length and the prompts for every command that encodes (kept in the click
    context)."""
    function = prompt_options(function)
    function = click.option("--max-seq-length", type=seq_length_type, default=None, expose_value=False,
                            callback=_store_encoding,
                            help="Truncate texts to this many tokens (a warning counts the truncated ones) "
                                 "[default: the model's, or the index's].")(function)
    function = click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                            expose_value=False, callback=_store_encoding,
                            help="Encode with N processes (torch: one per GPU if there are N, else sharing "
                                 "the CPU cores) or N parallel batches (ONNX).")(function)
    return click.option("--backend", type=click.Choice(BACKENDS), default=None, expose_value=False,
                        callback=_store_encoding,
                        help=f"Inference backend: {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]} (exported once, "
                             f"cached beside the model) [default: {BACKENDS[0]}, or the index's].")(function)


def _encoder_settings() -> dict:
    """The encoding options the command was given (those left out take the library's defaults)."""
    settings = _settings("encoding")
    given = {name: settings.get(name) for name in ("backend", "max_seq_length")}
    return {**{name: value for name, value in given.items() if value is not None},
            "workers": settings.get("workers") or 1, **_prompts()}


def _load_model(model_name):
    """The model's encoder, on the backend and with the workers, max length and prompts the command was given."""
    from ..encoding import Encoder

    return Encoder.load(model_name, **_encoder_settings())


def _load_index_model(index, model_name):
    """The index's model (or the given one, checked), on the command's backend and prompts or else the index's."""
    from ..index.building import load_index_model

    return load_index_model(index, model_name, **_encoder_settings())


def ray_options(function):
    """--ray [ADDRESS] and --encoders K: encode (and build) through Ray Data (:mod:`textmetric.distributed`)."""
    from ..distributed.build import DEFAULT_ENCODERS
    from ..distributed.cluster import LOCAL_CLUSTER

    function = click.option("--encoders", type=click.IntRange(min=1), default=DEFAULT_ENCODERS, show_default=True,
                            help="Encoder actors (with --ray): one model load each.")(function)
    return click.option("--ray", "ray_address", is_flag=False, flag_value=LOCAL_CLUSTER, default=None,
                        metavar="[ADDRESS]",
                        help="Encode on Ray (Ray Data, --encoders actors): the cluster at ADDRESS (host:port, "
                             "ray://host:port or auto), or without one a local cluster started for the run."
                        )(function)


def _ray_encoder_settings() -> dict:
    """The encoding options for Ray's encoder actors: each runs one model, so no --workers."""
    return {name: value for name, value in _encoder_settings().items() if name != "workers"}


batch_option = click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True,
                            type=click.IntRange(min=1), help="Texts per encoding batch.")


def run_tag_option(function):
    """--run-tag, for the commands that write runs (--run-out)."""
    return click.option("--run-tag", metavar="TAG", default=DEFAULT_RUN_TAG, show_default=True,
                        callback=lambda ctx, param, value: check_run_tag(value),
                        help="The tag column (the sixth) of the --run-out file: one word naming the system."
                        )(function)


def filter_option(function):
    """--filter, for the commands that search (`search`, `evaluate`): which documents a hit may be."""
    from ..index.filters import parse_cli_filters

    return click.option("--filter", "filter_", metavar="FIELD=VALUE", multiple=True,
                        callback=lambda ctx, param, value: parse_cli_filters(value),
                        help="Only documents whose field matches: FIELD=VALUE, or !=, >, >=, <, <= (numbers, or "
                             "strings in code-point order); VALUE is JSON when it reads as a number, true, false, "
                             "null, a quoted string or a list (= one of them), else text. Or a JSON object "
                             "{\"field\": value or {\"$op\": value}} ($eq, $ne, $in, $gt, $gte, $lt, $lte). "
                             "Repeat it: all must hold.")(function)


def lock_option(folder_param: str):
    """--lock-timeout, for a command that writes the index folder given as ``folder_param``: the whole command
    holds that folder's writer lock (``write_lock``), from reading the old index to swapping the new one in."""
    import functools

    from ..index.locking import DEFAULT_LOCK_TIMEOUT, LOCK_TIMEOUT_RANGE

    def decorate(function):
        @functools.wraps(function)
        def locked(*args, lock_timeout, **kwargs):
            from ..index.folder import write_lock
            from .output import _setup

            _setup(kwargs.get("quiet", False))  # so that "waiting for another writer" shows, or not
            with write_lock(kwargs[folder_param], lock_timeout):
                return function(*args, **kwargs)

        return click.option("--lock-timeout", type=finite(LOCK_TIMEOUT_RANGE), default=DEFAULT_LOCK_TIMEOUT,
                            metavar="SECONDS",
                            help="Give up with an error if another writer holds the index for longer "
                                 "[default: wait, saying so].")(locked)

    return decorate


def lexical_options(function):
    """The BM25 side's tokenisation, for `index --lexical` and `index-lexical` (recorded in the manifest)."""
    function = click.option("--stopwords", type=click.Choice(list(STOPWORD_LISTS)), default=DEFAULT_STOPWORDS,
                            show_default=True,
                            help="Drop Lucene's 33 English stop words, or keep every word.")(function)
    return click.option("--stemmer", type=click.Choice(STEMMERS), default=DEFAULT_STEMMER,
                        show_default=True, help="Snowball stemming (PyStemmer), or none.")(function)


_keep_fusion = _keep_in("fusion")


def hybrid_options(with_all: bool = False):
    """--mode and the fusion settings (kept in the click context), for `search` and, ``with_all``, `evaluate`."""
    modes = (*MODES, ALL_MODES) if with_all else MODES

    def decorate(function):
        for option in reversed([
            click.option("--mode", type=click.Choice(modes), default=DEFAULT_MODE, show_default=True,
                         help="dense: the model's embeddings; lexical: BM25 alone (no model); hybrid: both, fused"
                              + (f"; {ALL_MODES}: the three side by side" if with_all else "") + "."),
            click.option("--fusion", type=click.Choice(FUSIONS), default=DEFAULT_FUSION, show_default=True,
                         expose_value=False, callback=_keep_fusion,
                         help="Hybrid fusion: reciprocal rank fusion, or min-max normalised scores mixed by --alpha."),
            click.option("--alpha", type=finite(ALPHA_RANGE), default=DEFAULT_ALPHA, show_default=True,
                         expose_value=False, callback=_keep_fusion,
                         help="--fusion score: weight of the dense side (1 - alpha for the lexical side)."),
            click.option("--rrf-k", type=finite(RRF_K_RANGE), default=DEFAULT_RRF_K, show_default=True,
                         expose_value=False, callback=_keep_fusion,
                         help="--fusion rrf: the constant k in 1 / (k + rank)."),
            click.option("--depth", type=click.IntRange(min=1), default=DEFAULT_DEPTH, show_default=True,
                         expose_value=False, callback=_keep_fusion,
                         help="Hybrid: candidates taken from the top of each side before fusing."),
        ]):
            function = option(function)
        return function

    return decorate


def _fusion() -> dict:
    """The Retriever's fusion settings the command was given: fusion, alpha, rrf_k, depth."""
    return dict(_settings("fusion"))


def _fusion_for(index, model_name, modes) -> tuple[dict, str | None]:
    """The Retriever's fusion settings, and a note when they come from the model folder: with a hybrid mode
    and none of --fusion, --alpha, --rrf-k given, the fusion tuned when the index's model (or --model) was
    trained (``textmetric train --tune-fusion``), if its folder keeps one."""
    from ..search.tuned_fusion import FUSION_OPTIONS, describe_tuned_fusion, fusion_settings, tuned_fusion_of

    settings = _fusion()
    ctx = click.get_current_context()
    given = any(ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE for name in FUSION_OPTIONS)
    if "hybrid" not in modes or given:
        return settings, None
    record = tuned_fusion_of(index.model, model_name)
    if record is None:
        return settings, None
    return {**settings, **fusion_settings(record)}, describe_tuned_fusion(record)


def metrics_option(help_text: str):
    """--metrics: comma-separated names, each checked before any work (the default is the library's)."""
    return click.option("--metrics", "metrics_text", default=None, metavar="LIST",
                        help=f"{help_text} [default: {','.join(DEFAULT_METRICS)}].")


relevance_option = click.option("--relevance-level", default=DEFAULT_RELEVANCE_LEVEL, show_default=True, type=int,
                                help="Lowest grade that counts as relevant (not used by nDCG).")


def _metric_names(text: str | None) -> list[str]:
    """The metrics named in ``text`` (the library's defaults when none is given), each checked."""
    if not text:
        return list(DEFAULT_METRICS)
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
