"""Loading models offline: the default, a folder, and clear failures."""

import time

import numpy as np
import pytest

from textmetric.errors import InputError
from textmetric.encoding import encode, load_model


def test_a_model_folder_loads(tiny_model_path):
    model = load_model(tiny_model_path)
    assert model.get_embedding_dimension() == 32


def test_an_unknown_hub_name_fails_at_once_with_a_clear_message():
    start = time.perf_counter()
    with pytest.raises(InputError, match="neither a local folder nor in the local Hugging Face cache"):
        load_model("no-such-org/no-such-model")
    assert time.perf_counter() - start < 10  # never the ~70 s of network retries


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
