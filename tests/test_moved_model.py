"""An index whose model folder has moved: the error says so and how to point at the new place."""

import shutil

import pytest

from textmetric import Index, load_index_model
from textmetric.errors import InputError


@pytest.fixture
def index_of_a_model_that_moved(cli, beir_dir, tiny_model_path, tmp_path, monkeypatch):
    """An index built with `--model my-model` (a relative path), after which the folder moved to moved-model."""
    shutil.copytree(tiny_model_path, tmp_path / "my-model")
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("index", "--corpus", beir_dir, "--output", "idx", "--model", "my-model", "-q")
    assert code == 0, err
    (tmp_path / "my-model").rename(tmp_path / "moved-model")
    return tmp_path / "idx"


def test_the_manifest_records_the_model_as_given_and_resolved(index_of_a_model_that_moved, tmp_path):
    recorded = Index.load(index_of_a_model_that_moved).model
    assert recorded["given_name"] == "my-model" and recorded["name"] == str(tmp_path / "my-model")
    assert len(recorded["weights_sha256"]) == 64


def test_search_says_the_model_folder_is_gone_and_how_to_point_at_it(cli, index_of_a_model_that_moved, tmp_path):
    code, _, err = cli("search", "--index", index_of_a_model_that_moved, "bread")
    assert code == 2 and err.count("\n") == 1 and "omit --model" not in err
    assert f"the index's model folder {tmp_path / 'my-model'} (given as 'my-model') is gone" in err
    assert "if it moved, pass --model NEW_PATH" in err and "same weights (sha256 " in err


def test_the_moved_folder_is_accepted_with_model(cli, index_of_a_model_that_moved):
    code, out, err = cli("search", "--index", index_of_a_model_that_moved, "bread", "--model", "moved-model", "-q")
    assert code == 0, err
    assert out.startswith("query: bread")


def test_python_callers_are_told_the_parameter_not_the_flag(index_of_a_model_that_moved):
    with pytest.raises(InputError, match="if it moved, pass name_or_path=NEW_PATH"):
        load_index_model(Index.load(index_of_a_model_that_moved))
