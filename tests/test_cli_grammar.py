"""One grammar for the command line: spellings, hidden old aliases, help text, exit codes."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import click
import pytest

from conftest import write_jsonl
from textmetric.cli import cli
from textmetric.training.config import TrainConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def commands():
    return sorted(cli.commands.items())


# -- help ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, command", commands())
def test_every_option_of_every_command_has_help(name, command):
    undocumented = [p.opts[0] for p in command.params
                    if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()]
    assert undocumented == [], name


def test_the_group_options_have_help():
    assert all(p.help for p in cli.params if isinstance(p, click.Option))


def help_of(cli_run, *args) -> str:
    code, out, _ = cli_run(*args, "--help")
    assert code == 0
    return out


def test_old_spellings_are_not_in_the_help(cli):
    assert "--workdir" not in help_of(cli, "demo")
    assert help_of(cli, "compare").splitlines()[0] == "Usage: textmetric compare [OPTIONS]"
    assert help_of(cli, "export-demo-data").splitlines()[0] == "Usage: textmetric export-demo-data [OPTIONS]"
    assert "--examples PATH" in help_of(cli, "train")


def grammar_block() -> list[str]:
    """The lines of the grammar in `textmetric --help` (the block click prints as written)."""
    lines = cli.help.split("\b\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.strip() for line in lines]


def test_the_top_level_help_writes_the_grammar_down(cli):
    out = help_of(cli)
    for line in grammar_block():
        assert line in out
    assert "--output PATH" in out and "--run-tag" in out and "141" in out


def test_the_readme_shows_the_grammar_the_help_shows():
    readme = [line.strip() for line in README.read_text(encoding="utf-8").splitlines()]
    block = grammar_block()
    start = readme.index(block[0])
    assert readme[start:start + len(block)] == block


def test_a_bare_textmetric_prints_the_help_and_exits_0(cli):
    code, out, err = cli()
    assert code == 0 and err == ""
    assert out.startswith("Usage: textmetric [OPTIONS] COMMAND") and "-h, --help" in out


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_the_version_flags(cli, flag):
    code, out, _ = cli(flag)
    assert code == 0 and out.startswith("textmetric, version ")


def test_train_defaults_are_the_library_defaults():
    from textmetric.training.config import TrainConfig

    options = cli.commands["train"].make_context("train", ["--output", "m"]).params
    compared = [field.name for field in dataclasses.fields(TrainConfig) if field.name in options]
    assert len(compared) >= 15
    for name in compared:
        assert options[name] == getattr(TrainConfig(), name), name


def library_defaults() -> dict:
    """Each command's option defaults and choices as the library defines them: (command, option) -> value."""
    from textmetric.encoding import BACKENDS, DEFAULT_BATCH_SIZE
    from textmetric.evaluation.compare import DEFAULT_PERMUTATIONS, DEFAULT_SEED
    from textmetric.evaluation.metrics import DEFAULT_RELEVANCE_LEVEL
    from textmetric.evaluation.runs import DEFAULT_RUN_TAG
    from textmetric.evaluation.systems import EVALUATION_TOP_K
    from textmetric.index import DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, SPACES
    from textmetric.index.building import DEFAULT_CHUNK
    from textmetric.index.lexical import DEFAULT_STEMMER, DEFAULT_STOPWORDS, STEMMERS, STOPWORD_LISTS
    from textmetric.search.fusion import DEFAULT_ALPHA, DEFAULT_FUSION, DEFAULT_RRF_K, FUSIONS
    from textmetric.search.retriever import DEFAULT_DEPTH, DEFAULT_MODE, DEFAULT_TOP_K, MODES
    from textmetric.training.config import ADAPTERS
    from textmetric.training.mining import DEFAULT_MAX_RANK, DEFAULT_NEGATIVES, DEFAULT_SKIP_TOP

    hybrid = {"fusion": (DEFAULT_FUSION, FUSIONS), "alpha": DEFAULT_ALPHA, "rrf_k": DEFAULT_RRF_K,
              "depth": DEFAULT_DEPTH}
    lexical = {"stopwords": (DEFAULT_STOPWORDS, tuple(STOPWORD_LISTS)), "stemmer": (DEFAULT_STEMMER, STEMMERS)}
    return {
        "evaluate": {"k": EVALUATION_TOP_K, "batch_size": DEFAULT_BATCH_SIZE,
                     "relevance_level": DEFAULT_RELEVANCE_LEVEL, "run_tag": DEFAULT_RUN_TAG,
                     "mode": (DEFAULT_MODE, (*MODES, "all")), "backend": (None, BACKENDS), **hybrid},
        "search": {"k": DEFAULT_TOP_K, "batch_size": DEFAULT_BATCH_SIZE, "run_tag": DEFAULT_RUN_TAG,
                   "mode": (DEFAULT_MODE, MODES), **hybrid},
        "compare": {"relevance_level": DEFAULT_RELEVANCE_LEVEL, "permutations": DEFAULT_PERMUTATIONS,
                    "seed": DEFAULT_SEED},
        "index": {"m": DEFAULT_M, "ef_construction": DEFAULT_EF_CONSTRUCTION, "ef": DEFAULT_EF,
                  "chunk_size": DEFAULT_CHUNK, "batch_size": DEFAULT_BATCH_SIZE, "space": (None, SPACES), **lexical},
        "index-lexical": lexical,
        "add": {"batch_size": DEFAULT_BATCH_SIZE},
        "mine": {"negatives": DEFAULT_NEGATIVES, "skip_top": DEFAULT_SKIP_TOP, "max_rank": DEFAULT_MAX_RANK,
                 "batch_size": DEFAULT_BATCH_SIZE},
        "train": {"adapter": (None, ADAPTERS)},
    }


@pytest.mark.parametrize("command", list(library_defaults()))
def test_every_option_default_and_choice_is_the_library_constant(command):
    options = {p.name: p for p in cli.commands[command].params}
    for name, expected in library_defaults()[command].items():
        default, choices = expected if isinstance(expected, tuple) else (expected, None)
        assert options[name].default == default, (command, name)
        if choices is not None:
            assert tuple(options[name].type.choices) == tuple(choices), (command, name)


def test_the_max_seq_length_options_take_what_the_library_takes():
    types = {command.name: p.type for command in cli.commands.values() for p in command.params
             if p.name == "max_seq_length"}
    assert len(types) >= 5
    for name, kind in types.items():
        assert kind.convert("1", None, None) == 1 and kind.convert("100000", None, None) == 100000, name
        with pytest.raises(click.BadParameter):
            kind.convert("0", None, None)
    assert types["train"].convert("auto", None, None) == TrainConfig().max_seq_length == "auto"


def library_ranges() -> dict:
    """The library's range of each float option: (command, option) -> Range."""
    from textmetric.index.locking import LOCK_TIMEOUT_RANGE
    from textmetric.search.fusion import ALPHA_RANGE, RRF_K_RANGE
    from textmetric.serve.batching import MAX_WAIT_MS_RANGE
    from textmetric.serve.live import POLL_RANGE
    from textmetric.training.config import RANGES

    fusion = {"alpha": ALPHA_RANGE, "rrf_k": RRF_K_RANGE}
    ranges = {("train", name): RANGES[name]
              for name in ("epochs", "lr", "margin", "dev_fraction", "relative_margin", "attention_dropout")}
    ranges[("mine", "relative_margin")] = RANGES["relative_margin"]
    ranges[("demo", "epochs")] = RANGES["epochs"]
    ranges.update({(command, name): value for command in ("search", "evaluate") for name, value in fusion.items()})
    ranges.update({(command, "lock_timeout"): LOCK_TIMEOUT_RANGE
                   for command in ("index", "index-lexical", "add", "delete", "compact", "reproject")})
    ranges.update({("serve", "batch_wait_ms"): MAX_WAIT_MS_RANGE, ("serve", "poll"): POLL_RANGE})
    return ranges


def test_every_float_option_takes_the_library_range_and_refuses_nan_and_infinity():
    floats = {(command.name, p.name): p.type for command in cli.commands.values() for p in command.params
              if isinstance(p.type, click.types.FloatParamType)}
    assert set(floats) == set(library_ranges())
    for key, kind in floats.items():
        assert kind.allowed == library_ranges()[key], key
        for value in ("nan", "inf", "-inf"):
            with pytest.raises(click.BadParameter, match="not (a finite number|in the range)"):
                kind.convert(value, None, None)


# -- new spellings and the hidden old ones -------------------------------------------------------

@pytest.fixture
def two_runs(tmp_path):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\ta\t1\nq2\tb\t1\n")
    a, b = tmp_path / "a.run", tmp_path / "b.run"
    a.write_text("q1 Q0 a 1 0.9 A\nq2 Q0 x 1 0.9 A\nq2 Q0 b 2 0.8 A\n")
    b.write_text("q1 Q0 a 1 0.9 B\nq2 Q0 b 1 0.9 B\n")
    return a, b, qrels


def test_compare_reads_its_runs_with_run(cli, two_runs):
    a, b, qrels = two_runs
    code, out, err = cli("compare", "--run", a, "--run", b, "--qrels", qrels, "--metrics", "map")
    assert code == 0 and err == "" and f"A: {a}\nB: {b}" in out


def test_compare_still_takes_two_positional_runs_with_a_note(cli, two_runs):
    a, b, qrels = two_runs
    code, out, err = cli("compare", a, b, "--qrels", qrels, "--metrics", "map")
    assert code == 0 and f"A: {a}\nB: {b}" in out
    assert "warning: compare A B is the old spelling of --run A --run B" in err


def test_compare_needs_exactly_two_runs(cli, two_runs):
    a, b, qrels = two_runs
    code, _, err = cli("compare", "--run", a, "--qrels", qrels)
    assert code == 2 and "give two runs, --run A --run B (got 1)" in err
    code, _, err = cli("compare", a, "--run", b, "--qrels", qrels)
    assert code == 2 and "give --run A --run B alone" in err


@pytest.fixture
def demo_config(monkeypatch):
    seen = {}

    def fake(config, *, echo, say, progress):
        seen["config"] = config

    monkeypatch.setattr("textmetric.demo.run.run_demo", fake)
    return seen


@pytest.mark.parametrize("flag", ["--output", "--workdir"])
def test_demo_writes_to_output_and_still_to_workdir(cli, demo_config, tmp_path, flag):
    code, _, err = cli("demo", flag, tmp_path / "w")
    assert code == 0 and demo_config["config"].workdir == str(tmp_path / "w")
    assert ("old spelling of --output" in err) == (flag == "--workdir")


def test_demo_refuses_both_spellings_at_once(cli, demo_config, tmp_path):
    code, _, err = cli("demo", "--output", tmp_path / "a", "--workdir", tmp_path / "b")
    assert code == 2 and "give --output alone" in err and "config" not in demo_config


@pytest.mark.parametrize("spelling", [("--output",), ()])
def test_export_demo_data_writes_to_output_and_still_to_a_positional_folder(cli, monkeypatch, tmp_path, spelling):
    from textmetric.demo.stdlib import Collection

    written = []

    def fake(folder, *, modules=None, overwrite=False):
        written.append(str(folder))
        return Collection({}, {}, {"train": {}, "test": {}}, {"train": [], "test": []})

    monkeypatch.setattr("textmetric.demo.stdlib.export_stdlib", fake)
    code, _, err = cli("export-demo-data", *spelling, tmp_path / "out")
    assert code == 0 and written == [str(tmp_path / "out")]
    assert ("old spelling" in err) == (not spelling)


def test_export_demo_data_needs_a_folder(cli):
    code, _, err = cli("export-demo-data")
    assert code == 2 and "--output DIR" in err


@pytest.fixture
def fine_tune_calls(monkeypatch):
    calls = []

    def fake(source, output, *, model_name=None, config=None, resume=False, progress=False):
        calls.append((str(source), config))
        return {"train_rows": 1, "train_seconds": 0.0, "summary": "ok"}

    monkeypatch.setattr("textmetric.training.trainer.fine_tune", fake)
    return calls


def test_train_takes_a_beir_folder_with_data_and_split(cli, fine_tune_calls, toy_beir, tmp_path):
    code, _, err = cli("train", "--data", toy_beir, "--split", "test", "--output", tmp_path / "m")
    assert code == 0, err
    assert fine_tune_calls[0][0] == str(toy_beir) and fine_tune_calls[0][1].split == "test"


def test_train_takes_an_example_file_with_examples_and_still_with_data(cli, fine_tune_calls, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "a", "positive": "b"}])
    code, _, err = cli("train", "--examples", pairs, "--output", tmp_path / "m")
    assert code == 0 and "old spelling" not in err
    code, _, err = cli("train", "--data", pairs, "--output", tmp_path / "m")
    assert code == 0 and "--data with training examples is the old spelling of --examples PATH" in err
    assert [source for source, _ in fine_tune_calls] == [str(pairs), str(pairs)]


def test_train_split_goes_with_a_beir_folder_only(cli, fine_tune_calls, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "a", "positive": "b"}])
    code, _, err = cli("train", "--examples", pairs, "--split", "dev", "--output", tmp_path / "m")
    assert code == 2 and "--split" in err and not fine_tune_calls
    code, _, err = cli("train", "--output", tmp_path / "m")
    assert code == 2 and "--data DIR" in err and "--examples PATH" in err


# -- exit codes ------------------------------------------------------------------------------------

def test_a_closed_pipe_exits_quietly_not_as_a_failure(cli, monkeypatch, tmp_path):
    from textmetric import cli as cli_module

    def reader_gone(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    run = tmp_path / "run.txt"
    run.write_text("q1 Q0 a 1 0.9 t\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\ta\t1\n")
    monkeypatch.setattr(click, "echo", reader_gone)
    code, out, err = cli("evaluate", "--run", run, "--qrels", qrels)
    assert code == cli_module.CLOSED_PIPE == 141 and err == ""


def test_a_real_pipe_closed_by_its_reader_ends_the_command_quietly(cli, beir_dir, tiny_model_path, tmp_path):
    code, _, err = cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", tiny_model_path,
                       "--lexical", "-q")
    assert code == 0, err
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": f"q{i}", "text": "bread and cats"} for i in range(3000)])
    process = subprocess.Popen([sys.executable, "-m", "textmetric", "search", "--index", str(tmp_path / "idx"),
                                "--mode", "lexical", "--queries", str(queries), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(1) == b"{"  # like `| head -c1`: the reader takes one byte and goes away
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141 and err == ""


# -- messages in the user's words ------------------------------------------------------------------

def test_a_warning_names_the_parameter_in_python_and_the_flag_on_the_command_line(cli, tiny_model, tiny_model_path,
                                                                                  beir_dir, warnings_log):
    from conftest import warning_messages
    from textmetric.encoding import encode

    tiny_model.max_seq_length = 4
    encode(tiny_model, ["a text far longer than four tokens, surely"])
    (message,) = warning_messages(warnings_log)
    assert "raise max_seq_length to keep more" in message
    code, _, err = cli("evaluate", "--data", beir_dir, "--model", tiny_model_path, "--max-seq-length", "4")
    assert code == 0 and "raise --max-seq-length to keep more" in err
