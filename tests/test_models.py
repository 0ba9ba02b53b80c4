"""Loading models offline: the default, a folder, and clear failures."""

import os

import numpy as np
import pytest

from textmetric.errors import InputError
from textmetric.encoding import encode, load_model


def test_a_model_folder_loads(tiny_model_path):
    model = load_model(tiny_model_path)
    assert model.get_embedding_dimension() == 32


@pytest.fixture
def network_attempts(monkeypatch):
    """Every attempt to reach the network (a name lookup or a connection), refused and recorded."""
    import socket

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("the network is out of bounds in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_an_unknown_hub_name_fails_at_once_with_a_clear_message(network_attempts, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as in a program that never set HF_HUB_OFFLINE
    with pytest.raises(InputError, match="neither a local folder nor in the local Hugging Face cache"):
        load_model("no-such-org/no-such-model")
    assert network_attempts == []  # never the ~70 s of network retries
    assert constants.HF_HUB_OFFLINE is False  # offline for the load alone


def test_importing_textmetric_leaves_the_environment_alone():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    code = "import os, textmetric; print(os.environ.get('HF_HUB_OFFLINE'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


def test_a_folder_that_is_not_a_model_is_rejected(tmp_path):
    with pytest.raises(InputError, match="not a model folder"):
        load_model(tmp_path)


def test_a_file_is_not_a_model(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0")
    with pytest.raises(InputError, match="expected a model folder"):
        load_model(path)


def test_remote_code_is_off_by_default(tiny_model_path, monkeypatch):
    import sentence_transformers

    seen = {}
    real = sentence_transformers.SentenceTransformer

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", spy)
    load_model(tiny_model_path)
    assert seen["trust_remote_code"] is False


def test_encode_returns_float32_rows_in_input_order(tiny_model):
    texts = ["a much longer sentence about many things", "short", "medium length text"]
    together = encode(tiny_model, texts, batch_size=2)
    alone = np.stack([encode(tiny_model, [t])[0] for t in texts])
    assert together.dtype == np.float32 and together.shape == (3, 32)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_encode_of_no_text_is_an_empty_matrix(tiny_model):
    assert encode(tiny_model, []).shape == (0, 32)


@pytest.mark.real_model
def test_the_default_model_is_the_real_all_minilm_l6_v2():
    model = load_model()
    a, b, c = encode(model, ["A man is eating food.", "A man is eating a piece of bread.",
                             "The girl is carrying a baby."], normalize=True)
    assert model.get_embedding_dimension() == 384
    assert float(a @ b) > 0.7 > float(a @ c)  # real semantics, not random weights


def test_the_hub_name_of_the_default_model_resolves_offline():
    model = load_model("sentence-transformers/all-MiniLM-L6-v2")
    assert model.get_embedding_dimension() == 384
