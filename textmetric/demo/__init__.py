"""The demo: the stdlib dataset built offline from this Python, and the whole job run on it.

``stdlib`` builds the dataset (with ``_stdlib_scan.py``, the script it runs in a child
interpreter) and caches it; ``run`` is :func:`run_demo`, zero-shot against fine-tuned.
Nothing is imported here.
"""
