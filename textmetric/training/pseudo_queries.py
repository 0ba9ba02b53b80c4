"""Pseudo-queries from the corpus itself: the inverse cloze task (Lee, Chang and Toutanova, ACL 2019).

A sentence of a document stands for a query whose relevant passage is the rest of that document
(the sentence removed, so that the pair is not matched by copying words); a document of a single
sentence gives its title as the query instead. The pairs teach the model the corpus's own
vocabulary and documents, beyond those the judged queries touch, without any judgement.
"""

from __future__ import annotations

import random
import re
from typing import Collection, NamedTuple

from ..data import Corpus

__all__ = ["PseudoPair", "inverse_cloze_pairs"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class PseudoPair(NamedTuple):
    """A pseudo-query, the text it comes from with the query taken out, and that document's id."""

    doc_id: str
    query: str
    positive: str


def inverse_cloze_pairs(corpus: Corpus, exclude: Collection[str], count: int, seed: int) -> list[PseudoPair]:
    """Up to ``count`` pairs, one per document, from a seeded draw of the documents not in ``exclude``.

    From a document of two sentences or more: one sentence (seeded) → the title and the other
    sentences; from one of a single sentence with a title: the title → the text. Others are passed over.
    """
    candidates = sorted(d for d in corpus if d not in exclude)
    rng = random.Random(seed)
    rng.shuffle(candidates)
    pairs: list[PseudoPair] = []
    for doc_id in candidates:
        if len(pairs) >= count:
            break
        document = corpus[doc_id]
        title = (document.title or "").strip()
        sentences = [s.strip() for s in _SENTENCE_END.split(document.text or "") if s.strip()]
        if len(sentences) >= 2:
            pick = rng.randrange(len(sentences))
            rest = " ".join(sentences[:pick] + sentences[pick + 1:])
            pairs.append(PseudoPair(doc_id, sentences[pick], f"{title} {rest}".strip()))
        elif title and sentences:
            pairs.append(PseudoPair(doc_id, title, sentences[0]))
    return pairs
