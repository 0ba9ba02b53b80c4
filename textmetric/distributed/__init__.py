"""Past one machine, on Ray: the Ray Data build of a collection (``build``), the connection to a cluster
(``cluster``), the service on Ray Serve (``serving``: :func:`serve_on_ray`, ``textmetric serve --ray``). Ray is
imported only when one of them runs, never by ``import textmetric``."""

__all__ = ["serve_on_ray", "build_index_on_ray"]


def __getattr__(name: str):
    if name == "serve_on_ray":
        from .serving import serve_on_ray

        return serve_on_ray
    if name == "build_index_on_ray":
        from .build import build_index_on_ray

        return build_index_on_ray
    raise AttributeError(f"module 'textmetric.distributed' has no attribute '{name}'")
