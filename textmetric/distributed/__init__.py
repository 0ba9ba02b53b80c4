"""Past one machine with Ray: the service on a Ray cluster (``serving``: :func:`serve_on_ray`, ``textmetric serve
--ray``). Ray is imported only when it is used, never by ``import textmetric``."""

__all__ = ["serve_on_ray"]


def __getattr__(name: str):
    if name == "serve_on_ray":
        from .serving import serve_on_ray

        return serve_on_ray
    raise AttributeError(f"module 'textmetric.distributed' has no attribute '{name}'")
