"""The demo: the stdlib dataset built offline from this Python, and the whole job run on it."""
