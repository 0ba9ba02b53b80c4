"""Corpus, queries and relevance judgments (qrels), training examples, and the loaders that read them.

The records (:mod:`.records`) are plain dictionaries, as in BEIR, pytrec_eval and ranx:

* ``Corpus``  = ``{doc_id: Document(text, title, fields)}``, fields the record's other columns (:mod:`.fields`)
* ``Queries`` = ``{query_id: text}``
* ``Qrels``   = ``{query_id: {doc_id: grade}}`` with integer grades

The text a model sees for a document is ``title + " " + text`` when the title is
non-empty, else ``text`` (stripped, exactly as BEIR and MTEB build it).

Each loader takes a path -- a record file (jsonl, csv, tsv, parquet, ``.arrow``, see
:mod:`.files`), a BEIR folder, a ``datasets`` ``save_to_disk`` folder -- or a
``datasets.Dataset`` (:mod:`.hf_datasets`), or a dict; the same column rules and the same
errors hold for every form (:mod:`.sources`).

What is an error (``InputError``: one line naming the file, the line or row, and the
problem): malformed JSON or CSV, a non-UTF-8 byte, a missing or empty id, a
missing text, a duplicate id, a qrels line with the wrong number of fields or a
non-integer grade, a document judged twice for one query, an empty file or dataset,
a ``DatasetDict`` (several splits) where one split is needed.
What is a warning (counted, with the first example): judged documents or queries
that the corpus or the queries file lacks -- they still count as relevant
(trec_eval's R), they can just never be retrieved.
"""

from .examples import EXAMPLE_KINDS, Examples, ExamplesSource, load_examples
from .files import FORMATS, iter_records, read_text
from .hf_datasets import is_dataset, is_saved_dataset
from .loaders import CorpusSource, QueriesSource, load_beir, load_corpus, load_queries, load_retrieval_data
from .qrels import QRELS_COLUMNS, QrelsSource, check_qrels, load_qrels
from .records import Corpus, Document, Qrels, Queries, RetrievalData, number_queries
from .sources import source_name

__all__ = [
    "Document", "Corpus", "Queries", "Qrels", "RetrievalData", "number_queries",
    "load_corpus", "load_queries", "load_qrels", "load_beir", "load_retrieval_data", "check_qrels", "Examples", "load_examples",
    "EXAMPLE_KINDS", "FORMATS", "QRELS_COLUMNS", "iter_records", "read_text", "source_name", "is_dataset",
    "is_saved_dataset", "CorpusSource", "QueriesSource", "QrelsSource", "ExamplesSource",
]
