"""Data-parallel training: `torchrun -m textmetric train` on 2 gloo processes of this CPU.

Two processes with --batch-size 4 take the same steps as one process with --batch-size 8 (the
global batch), and log the same losses: each step's 8 examples are the same, and mnrl gathers the
in-batch negatives of both processes, so every query is scored against all 8 positives.
"""

import json
import os
import subprocess
import sys

import pytest
import torch.distributed as dist

from conftest import build_tiny_model, make_toy_beir
from textmetric.encoding import load_model

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="needs torch.distributed with the gloo backend")

# 26 train queries less 2 dev ones (--dev-fraction 0.05): 24 rows, 3 full global batches of 8 an
# epoch. With full batches nothing is dropped (data-parallel runs drop an epoch's incomplete last
# batches), and the 2 processes' batches of 4 are exactly the single process's batch of 8: the
# no-duplicates sampler cuts the same seeded permutation into consecutive batches, accelerate deals
# batch i to process i mod 2, and the gather concatenates them in rank order.
COMMON = ["--hard-negatives", "none", "--dev-fraction", "0.05", "--epochs", "2", "--lr", "1e-3",
          "--logging-steps", "1", "--seed", "42"]


def _run(command: list, root) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *command], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same training, on 2 processes with batch 4 (torchrun) and on 1 process with batch 8."""
    root = tmp_path_factory.mktemp("distributed")
    model = build_tiny_model(root / "tiny", dropout=0.0)  # no dropout: a step depends on its batch alone
    toy = make_toy_beir(root / "toy")
    train = ["-m", "textmetric", "train", "--data", str(toy), "--model", str(model), *COMMON]
    two = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                *train, "--output", str(root / "two" / "model"), "--batch-size", "4"], root)
    assert two.returncode == 0, two.stderr
    one = _run([*train, "--output", str(root / "one" / "model"), "--batch-size", "8", "--quiet"], root)
    assert one.returncode == 0, one.stderr
    logs = {name: json.loads((root / name / "model" / "training_log.json").read_text()) for name in ("two", "one")}
    return root, two, logs


def _losses(log: dict) -> list[tuple[int, float]]:
    return [(h["step"], h["loss"]) for h in log["history"] if "loss" in h]


def test_two_processes_take_the_steps_of_one_process_with_the_global_batch(runs):
    _, _, logs = runs
    assert [s for s, _ in _losses(logs["two"])] == [s for s, _ in _losses(logs["one"])] == [1, 2, 3, 4, 5, 6]


def test_two_processes_log_the_losses_of_one_process_with_the_global_batch(runs):
    # Same examples and same arithmetic up to float32 summation order (padding to 4 vs 8 texts,
    # gradients averaged over 2 processes): measured differences are ~1e-7, and Adam over 6 steps
    # keeps them far below 1e-4. Without the gather, each query would meet 4 positives, not 8: the
    # first loss drops from 1.76 to 1.14 on this data, so 1e-4 tells the two apart.
    _, _, logs = runs
    two, one = [loss for _, loss in _losses(logs["two"])], [loss for _, loss in _losses(logs["one"])]
    assert two == pytest.approx(one, rel=1e-4)


def test_rank_zero_alone_writes_a_loadable_model_whose_log_records_two_processes(runs):
    root, _, logs = runs
    assert logs["two"]["world_size"] == 2 and logs["one"]["world_size"] == 1
    assert load_model(root / "two" / "model").get_embedding_dimension() == 32
    assert sorted(p.name for p in (root / "two").iterdir()) == ["model"]  # no work or temporary folder left


def test_only_rank_zero_prints_the_summary(runs):
    _, two, _ = runs
    assert two.stderr.count("model written to") == 1
