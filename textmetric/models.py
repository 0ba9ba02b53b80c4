"""Former home of model loading and encoding, now :mod:`textmetric.encoding`: an alias kept for one release."""

from .encoding import DEFAULT_MODEL, default_model_path, encode, load_model, show_progress, weights_fingerprint

__all__ = ["DEFAULT_MODEL", "default_model_path", "load_model", "encode", "show_progress", "weights_fingerprint"]
