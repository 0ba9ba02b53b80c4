"""``serve``: the index and its model behind HTTP, loaded once, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import click

from ..distributed.serving import DEFAULT_ENCODER_REPLICAS, DEFAULT_SEARCHER_REPLICAS, LOCAL
from ..serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT, MAX_WAIT_MS_RANGE
from ..serve.live import DEFAULT_POLL, POLL_RANGE
from ..serve.server import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT
from .options import _encoder_settings, encoder_options, finite, model_option, quiet_option
from .output import _say, _setup


@click.command()
@click.option("--index", "index_dirs", metavar="DIR", required=True, multiple=True,
              help="The index folder; repeat it to serve the shards of one corpus together (dense search, "
                   "no writes).")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="The address to listen on (0.0.0.0: every interface of the machine).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="The port to listen on (0: a free one, printed at start).")
@model_option
@encoder_options
@click.option("--api-key", metavar="KEY", envvar=API_KEY_ENV, show_envvar=True, default=None,
              help="Turn on the write endpoints (POST and DELETE /documents), which then need this key. "
                   f"Prefer the variable {API_KEY_ENV}: a command line is visible to every user of the machine.")
@click.option("--cors-origin", "cors_origins", metavar="ORIGIN", multiple=True,
              help="Let pages from ORIGIN (e.g. https://example.org) call the API; repeat for more [default: none].")
@click.option("--max-batch", default=DEFAULT_MAX_BATCH, show_default=True, type=click.IntRange(min=1),
              help="Queries encoded together at most (micro-batching of concurrent requests).")
@click.option("--batch-wait-ms", default=1000 * DEFAULT_MAX_WAIT, show_default=True, type=finite(MAX_WAIT_MS_RANGE),
              help="How long the first query of a batch may wait for others, in milliseconds.")
@click.option("--poll", default=DEFAULT_POLL, show_default=True, type=finite(POLL_RANGE),
              help="Seconds between looks at the index folders for changes made by other processes (0: never).")
@click.option("--ray", "ray_address", is_flag=False, flag_value=LOCAL, default=None, metavar="[ADDRESS]",
              help="Serve on a Ray cluster with Ray Serve: the one at ADDRESS (host:port, ray://host:port or auto) "
                   "or, without an address, one started on this machine for the service. Each --index folder is "
                   "a shard with searchers of its own; writes go to the shard that owns each id.")
@click.option("--encoder-replicas", default=DEFAULT_ENCODER_REPLICAS, show_default=True, type=click.IntRange(min=1),
              help="With --ray: copies of the model encoding queries.")
@click.option("--searcher-replicas", default=DEFAULT_SEARCHER_REPLICAS, show_default=True,
              type=click.IntRange(min=1), help="With --ray: copies of each shard searching it.")
@quiet_option
def serve(index_dirs, host, port, model_name, api_key, cors_origins, max_batch, batch_wait_ms, poll, ray_address,
          encoder_replicas, searcher_replicas, quiet) -> None:
    """Serve an index over HTTP: a JSON API (/search, /documents, /info; documented at /docs) and a search
    page at /. Prints the URL on stdout and a summary on stderr; Ctrl-C or SIGTERM stops it."""
    from ..serve.app import create_app
    from ..serve.server import bind
    from ..serve.server import serve as run

    _setup(quiet)
    if ray_address is not None:
        from ..distributed.serving import serve_on_ray

        service = serve_on_ray(index_dirs, address=ray_address, host=host, port=port, model=model_name,
                               encoding=_encoder_settings(), api_key=api_key, cors_origins=cors_origins,
                               max_batch=max_batch, max_wait=batch_wait_ms / 1000, poll=poll,
                               encoder_replicas=encoder_replicas, searcher_replicas=searcher_replicas)
        click.echo(service.url)
        _say(f"textmetric serve: {service.url} — {service.summary}; Ctrl-C stops it", quiet)
        stopped_by = service.wait()
        _say(f"textmetric serve: stopped{f' ({stopped_by})' if stopped_by else ''}", quiet)
        return
    sock = bind(host, port)  # a port already taken fails here, before the model loads
    try:
        app = create_app(index_dirs, model=model_name, encoding=_encoder_settings(), api_key=api_key,
                         cors_origins=cors_origins, max_batch=max_batch, max_wait=batch_wait_ms / 1000, poll=poll)
    except BaseException:
        sock.close()
        raise
    service = app.state.service

    def ready(url: str) -> None:
        click.echo(url)
        _say(f"textmetric serve: {url} — {service.summary()}; Ctrl-C stops it", quiet)

    stopped_by = run(app, sock=sock, ready=ready)
    _say(f"textmetric serve: stopped{f' ({stopped_by})' if stopped_by else ''}", quiet)
