"""Scoring retrieval: trec_eval's metrics, TREC run files, evaluating systems, comparing them, and reports."""
