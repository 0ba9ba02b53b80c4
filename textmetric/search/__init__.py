"""Searching: hits and trec_eval's order (``ranking``, a leaf), the ``Retriever``, and fusion.

Nothing is imported here, so that ``ranking`` stays a leaf any module may use.
"""
