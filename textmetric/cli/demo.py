"""``demo`` (the whole job on the stdlib dataset) and ``export-demo-data`` (that dataset as a BEIR folder)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..evaluation.formatting import to_json
from ..training.config import RANGES
from .options import _HiddenArgument, _renamed, finite, json_option, model_option, quiet_option
from .output import _report, _say, _seconds, _setup


def _demo_defaults():
    from ..demo.run import DEFAULT_WORKDIR, DemoConfig

    return DEFAULT_WORKDIR, DemoConfig.epochs


@click.command()
@click.option("--output", metavar="DIR", default=_demo_defaults()[0], show_default=True,
              help="The folder everything the demo writes goes to (a previous demo's outputs there are replaced).")
@click.option("--workdir", "old_workdir", metavar="DIR", hidden=True, help="The old spelling of --output.")
@click.option("--quick", is_flag=True,
              help="A smaller slice (the well-known stdlib modules) for a run of a few minutes on a laptop CPU.")
@model_option
@click.option("--epochs", default=_demo_defaults()[1], show_default=True,
              type=finite(RANGES["epochs"]), help="Fine-tuning epochs over the train split.")
@json_option("command, output, files (relative to output), seconds, and what demo.json records: config, "
             "timings, dataset, zero-shot and fine-tuned metrics, comparison, training")
@quiet_option
def demo(output, old_workdir, quick, model_name, epochs, as_json, quiet) -> None:
    """The whole job on the embedded stdlib dataset: zero-shot, fine-tune, index, evaluate, compare."""
    from ..demo.run import MARKER, DemoConfig, run_demo

    progress = _setup(quiet)
    workdir = _renamed("output", "--output", old_workdir, "--workdir")
    result = run_demo(DemoConfig(workdir=workdir, model=model_name, quick=quick, epochs=epochs),
                      echo=(lambda text: None) if as_json else click.echo,
                      say=lambda message: _say(message, quiet), progress=progress)
    if as_json:
        recorded = json.loads((Path(workdir) / MARKER).read_text(encoding="utf-8"))
        click.echo(to_json({"command": "demo", "output": str(workdir), "files": result.files,
                               **{k: v for k, v in recorded.items() if k != "status"}}))


@click.command("export-demo-data")
@click.option("--output", metavar="DIR", help="The BEIR folder to write (required).")
@click.argument("old_folder", required=False, cls=_HiddenArgument)
@click.option("--quick", is_flag=True, help="Only the well-known modules, the slice `demo --quick` uses.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --output folder.")
@json_option("command, output, documents, train_queries, test_queries, train_modules, test_modules, seconds")
@quiet_option
def export_demo_data(output, old_folder, quick, overwrite, as_json, quiet) -> None:
    """Write the embedded stdlib dataset as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/train.tsv,
    qrels/test.tsv), built from this Python's standard library."""
    from ..demo.stdlib import QUICK_MODULES, export_stdlib

    _setup(quiet)
    start = time.perf_counter()
    folder = _renamed("output", "--output DIR", old_folder, "export-demo-data DIR")
    if not folder:
        raise click.UsageError("give the folder to write: --output DIR")
    collection = export_stdlib(folder, modules=QUICK_MODULES if quick else None, overwrite=overwrite)
    counts = {"documents": len(collection.corpus), "train_queries": len(collection.qrels["train"]),
              "test_queries": len(collection.qrels["test"]), "train_modules": len(collection.modules["train"]),
              "test_modules": len(collection.modules["test"])}
    _report(as_json, quiet, {"command": "export-demo-data", "output": str(folder), **counts,
                             "seconds": _seconds(start)},
            f"wrote {folder}: {counts['documents']} documents, {counts['train_queries']} train queries "
            f"({counts['train_modules']} modules), {counts['test_queries']} test queries "
            f"({counts['test_modules']} other modules)")

