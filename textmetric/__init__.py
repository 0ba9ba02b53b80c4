"""textmetric: semantic text retrieval built on metric learning.

Fine-tune a sentence-transformers bi-encoder, index a corpus, search it, and
score retrieval with trec_eval's exact metrics. Everything a user needs is
importable from here; the CLI (``textmetric``) is a thin shell over it.
"""

# textmetric never downloads: every model load and fine-tuning run is offline (encoding.hub_offline), so a
# missing model fails at once rather than retrying the network for a minute.

from .evaluation.compare import compare_evaluations, compare_runs, paired_t_test, randomization_test  # noqa: E402
from .data import (Corpus, Document, Qrels, Queries, RetrievalData, check_qrels, load_beir,  # noqa: E402
                   load_corpus, load_qrels, load_queries)
from .demo.stdlib import build_stdlib, export_stdlib, stdlib, stdlib_collection  # noqa: E402
from .errors import InputError  # noqa: E402
from .evaluation.runs import read_run, write_per_query, write_run  # noqa: E402
from .evaluation.systems import evaluate_retriever  # noqa: E402
from .evaluation.metrics import DEFAULT_METRICS, Evaluation, Run, evaluate, pair_accuracy, rank  # noqa: E402
from .search.fusion import reciprocal_rank_fusion, score_fusion  # noqa: E402
from .index import ExactIndex, Index, write_lock  # noqa: E402
from .index.building import add_documents, build_index, load_index_model  # noqa: E402
from .index.collection import build_collection  # noqa: E402
from .index.lexical import LexicalIndex, LexicalSettings  # noqa: E402
from .encoding import DEFAULT_MODEL, Encoder, encode, load_model  # noqa: E402
from .search.retriever import Retriever  # noqa: E402
from .index.shards import ShardedIndex, load_indexes  # noqa: E402

__version__ = "0.1.0"

# Training pulls in the sentence-transformers trainer: imported on first use, so that
# `import textmetric` and `textmetric evaluate --run` stay fast.
_LAZY = {"fine_tune": "training.trainer", "TrainConfig": "training.config", "make_loss": "training.losses",
         "mine_hard_negatives": "training.mining", "write_triplets": "training.mining", "run_demo": "demo.run",
         "DemoConfig": "demo.run", "write_report": "evaluation.report", "Client": "serve.client"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'textmetric' has no attribute '{name}'")

__all__ = [
    "Corpus", "Document", "Qrels", "Queries", "RetrievalData", "Run", "Evaluation", "InputError",
    "load_beir", "load_corpus", "load_queries", "load_qrels", "check_qrels",
    "load_model", "Encoder", "encode", "DEFAULT_MODEL",
    "ExactIndex", "Index", "ShardedIndex", "load_indexes", "Retriever", "build_index", "add_documents",
    "load_index_model", "write_lock", "build_collection",
    "LexicalIndex", "LexicalSettings", "reciprocal_rank_fusion", "score_fusion",
    "evaluate", "evaluate_retriever", "pair_accuracy", "rank", "DEFAULT_METRICS",
    "read_run", "write_run", "write_per_query",
    "fine_tune", "TrainConfig", "make_loss", "mine_hard_negatives", "write_triplets",
    "stdlib", "stdlib_collection", "build_stdlib", "export_stdlib",
    "compare_runs", "compare_evaluations", "paired_t_test", "randomization_test",
    "run_demo", "DemoConfig", "write_report", "Client",
]
