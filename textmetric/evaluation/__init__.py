"""Scoring retrieval: trec_eval's metrics, TREC run files, evaluating systems, comparing them, and reports.

``metrics`` scores a run against qrels as trec_eval does; ``runs`` reads and writes TREC run files;
``systems`` evaluates retrievers and models side by side (what ``textmetric evaluate`` and the demo
run); ``compare`` tests whether one run beats another; ``report`` writes the report folder;
``formatting`` shows scores as text tables and JSON-safe numbers. Nothing is imported here.
"""
