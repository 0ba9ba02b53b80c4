"""Text to vectors: a sentence-transformers model loaded offline, and the :class:`Encoder` that runs it
(backend, workers, max length, query and document prompts)."""

from .backends import BACKENDS
from .encoder import (DEFAULT_BATCH_SIZE, NO_PROMPTS, ROLES, Encoder, check_backend, describe_prompts, encode,
                      recorded_prompts)
from .fingerprint import weights_fingerprint
from .loading import DEFAULT_MODEL, default_model_path, hub_offline, load_model, quiet_transformers, show_progress

__all__ = ["Encoder", "encode", "load_model", "DEFAULT_MODEL", "default_model_path", "weights_fingerprint",
           "BACKENDS", "DEFAULT_BATCH_SIZE", "ROLES", "NO_PROMPTS", "recorded_prompts", "describe_prompts",
           "check_backend", "show_progress", "quiet_transformers", "hub_offline"]
