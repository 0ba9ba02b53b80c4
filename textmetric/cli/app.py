"""The ``textmetric`` command: a thin shell over the Python API.

Exit codes: 0 success, 2 bad input or usage (one line on stderr), 1 an
unexpected failure (one line; ``TEXTMETRIC_DEBUG=1`` shows the traceback),
141 when the reader of stdout goes away (``| head``), as for a tool killed by SIGPIPE.
The grammar every command follows is the group's help (``textmetric --help``).
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import CLI_MARK, InputError
from . import demo, evaluate, index, search, serve, train
from .output import _closed_pipe


class _Group(click.Group):
    """The command group; a reader of stdout gone away (``| head``) ends the command here, before click
    would turn it into exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _closed_pipe()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="textmetric")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """textmetric: fine-tune, index, search and evaluate semantic text retrieval.

    One grammar for every command:

    \b
      inputs  options named for what they read: --data DIR (a BEIR folder,
              --split its qrels), --corpus, --queries, --qrels, --run FILE,
              --examples PATH (training pairs or triplets), --index DIR, --model
      output  --output PATH: what the command makes (an index, a model, a
              triplets file, a BEIR folder, the demo's folder)
      extras  commands that print results write more on request: --run-out
              FILE (its tag column --run-tag), --per-query FILE, --report DIR
      stdout  the results: a table or text, or with --json one JSON object
              (search: one per query)
      stderr  progress, summaries and warnings; -q/--quiet keeps only errors
      exit    0 success, 2 bad input or usage, 1 an unexpected failure,
              141 when the reader of stdout goes away (| head)

    Positional arguments are only query text (search QUERY...).
    """
    ctx.meta[CLI_MARK] = True  # library messages name flags, not the API's parameters


for _command in (evaluate.evaluate, evaluate.compare, index.index_command, index.index_lexical, index.add,
                 index.delete, index.compact, index.reproject, search.search, serve.serve, train.train, train.mine,
                 demo.demo, demo.export_demo_data):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    # The command owns its process, so this one setting is process-wide on purpose: huggingface_hub, transformers
    # and datasets each read HF_HUB_OFFLINE once, when first imported (after this), so nothing the command loads
    # ever waits on the network. In Python, the library keeps the same promise call by call (hub_offline).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not (sys.argv[1:] if argv is None else argv):  # a bare `textmetric` asks for the help
        with click.Context(cli, info_name="textmetric", **cli.context_settings) as ctx:
            click.echo(cli.get_help(ctx))
        sys.exit(0)
    try:
        code = cli.main(args=argv, prog_name="textmetric", standalone_mode=False)
        sys.stdout.flush()  # a reader gone away shows here, while it can still be handled
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"textmetric: error: {e.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"textmetric: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except InputError as e:
        click.echo(f"textmetric: error: {e}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.Abort):
        click.echo("textmetric: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        _closed_pipe()
    except Exception as e:  # an unexpected failure: one line, the traceback on request
        if os.environ.get("TEXTMETRIC_DEBUG"):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        click.echo(f"textmetric: internal error: {type(e).__name__}: {first} "
                   f"(set TEXTMETRIC_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
