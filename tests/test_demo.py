"""The demo end to end with the tiny model on a small slice of the stdlib: its table, its files, its honesty."""

import json
import os

import pytest

from textmetric.evaluation.compare import Comparison, MetricComparison
from textmetric.demo.run import DEMO_METRICS, EXAMPLE_QUERIES, DemoConfig, run_demo, verdict
from textmetric.errors import InputError

SMALL = ("base64", "bisect", "csv", "difflib", "fnmatch", "glob", "heapq", "json", "shlex", "textwrap")


def _config(workdir, model):
    return DemoConfig(workdir=workdir, model=model, modules=SMALL, batch_size=8, dev_corpus_size=50, k=100,
                      epochs=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, tiny_model_path):
    """One demo run from inside an empty folder, with its printed output."""
    root = tmp_path_factory.mktemp("demo-root")
    lines, said = [], []
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = run_demo(_config("work", tiny_model_path), echo=lines.append, say=said.append)
    finally:
        os.chdir(cwd)
    return root, result, "\n".join(lines), said


def test_the_demo_prints_a_before_after_table_of_the_four_metrics(demo):
    _, result, out, _ = demo
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("metric")))
    assert lines[header].split() == ["metric", "zero-shot", "fine-tuned", "change", "p"]
    for offset, name in enumerate(DEMO_METRICS, start=1):
        cells = lines[header + offset].split()
        before, after = result.before.means[name], result.after.means[name]
        assert cells[:4] == [name, f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}"]
    assert result.before.num_queries == result.after.num_queries > 0
    assert f"{result.before.num_queries} queries from" in out
    assert ("raised MAP" in out) == result.improved and ("did NOT improve MAP" in out) != result.improved
    for query in EXAMPLE_QUERIES:
        assert f'"{query}"' in out
    assert out.count("zero-shot:") == out.count("fine-tuned:") == len(EXAMPLE_QUERIES)


def test_every_file_the_demo_writes_is_under_its_workdir_and_listed(demo):
    root, result, out, _ = demo
    assert sorted(p.name for p in root.iterdir()) == ["work"]  # nothing beside the work folder
    workdir = root / "work"
    on_disk = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file())
    assert on_disk == result.files
    listing = out[out.index("files written"):].splitlines()
    listed = {line.split()[0] for line in listing[1:] if line.startswith("  ") and line.split()}

    def is_listed(name):  # by itself, or through its top-level folder
        return name in listed or f"{name.split('/', 1)[0]}/" in listed

    assert all(is_listed(name) for name in on_disk)
    for name in ("report/metrics.json", "report/per_query.csv", "report/distances.png", "report/recall_at_k.png",
                 "report/precision_recall.png", "report/training_curves.png", "runs/zero-shot.run",
                 "runs/fine-tuned.run"):
        assert name in on_disk and name in listed  # the results are named one by one
    for name in ("data/corpus.jsonl", "data/qrels/test.tsv", "model/training_log.json",
                 "index-zero-shot/manifest.json", "index-fine-tuned/manifest.json", "demo.json"):
        assert name in on_disk and is_listed(name)
    summary = json.loads((workdir / "demo.json").read_text())
    assert summary["status"] == "done" and summary["fine-tuned"] == pytest.approx(result.after.means)


def test_a_second_run_in_the_same_workdir_replaces_the_first_and_reuses_its_dataset(demo, tiny_model_path,
                                                                                     monkeypatch):
    root, first, _, _ = demo
    monkeypatch.setattr("textmetric.demo.stdlib.scan_stdlib", lambda *a, **k: pytest.fail("dataset built again"))
    (root / "work" / "report" / "stale.txt").write_text("from an old run")
    again = run_demo(_config(root / "work", tiny_model_path), echo=lambda line: None)
    assert not (root / "work" / "report" / "stale.txt").exists()
    assert again.before.means == pytest.approx(first.before.means)  # the zero-shot side is deterministic


def test_a_folder_that_is_not_a_demo_folder_is_refused_untouched(tmp_path, tiny_model_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a demo folder"):
        run_demo(_config(tmp_path, tiny_model_path), echo=lambda line: None)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_verdict_says_so_when_fine_tuning_does_not_improve_map():
    worse = MetricComparison(mean_a=0.41, mean_b=0.39, difference=-0.02, t=-1.2, p_t_test=0.2, p_randomization=0.25,
                             improved=10, worsened=14, tied=5)
    text = verdict(Comparison(metrics={"map": worse}, num_queries=29))
    assert text.startswith("Fine-tuning did NOT improve MAP: 0.4100 before, 0.3900 after (-0.0200)")
    better = MetricComparison(0.39, 0.41, 0.02, 1.2, 0.2, 0.25, 14, 10, 5)
    assert "NOT significant" in verdict(Comparison(metrics={"map": better}, num_queries=29))


def test_the_demo_command_passes_its_options_to_run_demo(cli, monkeypatch, tmp_path):
    seen = {}

    def fake(config, *, echo, say, progress):
        seen.update(config=config)
        echo("table")

    monkeypatch.setattr("textmetric.demo.run.run_demo", fake)
    code, out, _ = cli("demo", "--output", tmp_path / "w", "--quick", "--model", "m", "--epochs", "2")
    config = seen["config"]
    assert code == 0 and out == "table\n"
    assert (config.workdir, config.quick, config.model, config.epochs) == (str(tmp_path / "w"), True, "m", 2.0)
    assert config.resolved().modules and config.resolved().dev_corpus_size == 200


@pytest.mark.parametrize("epochs", [float("nan"), float("inf"), 0.0])
def test_the_demo_refuses_epochs_out_of_range_before_any_work(tmp_path, epochs):
    with pytest.raises(InputError, match="^epochs must be a finite number > 0"):
        run_demo(DemoConfig(workdir=tmp_path / "w", epochs=epochs))
    assert not (tmp_path / "w").exists()
