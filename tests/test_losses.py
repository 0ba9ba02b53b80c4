"""Specifications for textmetric.training's distances, miners and losses, against brute-force oracles."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from textmetric.errors import InputError
from textmetric.training.distances import DISTANCES, get_distance
from textmetric.training.losses import LOSS_SPECS, batch_sampler_for, check_columns, make_loss
from textmetric.training.losses.batch_hard import BatchHardTripletLoss, BatchSemiHardTripletLoss
from textmetric.training.losses.contrastive import ContrastiveLoss
from textmetric.training.losses.mnrl import MultipleNegativesRankingLoss
from textmetric.training.losses.triplet import TripletLoss
from textmetric.training.miners import mine_batch_hard, mine_batch_semi_hard

PLAIN = nn.Identity()  # a stand-in model whose outputs are not normalised: any margin > 0 fits Euclidean
LABELS = [0, 0, 0, 1, 1, 2, 3]  # labels 2 and 3 have no positive: those anchors are skipped


def normalised_model() -> nn.Module:
    from sentence_transformers.sentence_transformer.modules import Normalize

    return nn.Sequential(Normalize())


def leaf(*shape: int, seed: int = 0, unit: bool = False) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(*shape, generator=generator, dtype=torch.float64)
    return (F.normalize(values, dim=-1) if unit else values).requires_grad_()


# --------------------------------------------------------------------------- brute-force oracles

def bf_distance(name: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The textbook formula, one coordinate at a time."""
    if name == "euclidean":
        return torch.sqrt(sum((u[k] - v[k]) ** 2 for k in range(len(u))))
    dot = sum(u[k] * v[k] for k in range(len(u)))
    cos = dot / (torch.sqrt(sum(u[k] ** 2 for k in range(len(u)))) * torch.sqrt(sum(v[k] ** 2 for k in range(len(v)))))
    return 1 - cos if name == "cosine" else torch.acos(cos) / math.pi


def bf_contrastive(name, margin, x, y, labels):
    total = 0
    for i in range(len(x)):
        d = bf_distance(name, x[i], y[i])
        if labels[i] == 1:
            total = total + d ** 2
        elif margin - d > 0:
            total = total + (margin - d) ** 2
    return total


def bf_triplet_sum(name, margin, triplets):
    total = 0
    for a, p, n in triplets:
        hinge = bf_distance(name, a, p) - bf_distance(name, a, n) + margin
        if hinge > 0:
            total = total + hinge
    return total


def bf_batch_hard(name, embeddings, labels):
    triplets = []
    for a in range(len(labels)):
        positives = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        if positives and negatives:
            d = lambda j: float(bf_distance(name, embeddings[a], embeddings[j]))  # noqa: E731
            triplets.append((a, max(positives, key=d), min(negatives, key=d)))
    return triplets


def bf_batch_semi_hard(name, embeddings, labels):
    triplets = []
    for a in range(len(labels)):
        d = lambda j: float(bf_distance(name, embeddings[a], embeddings[j]))  # noqa: E731
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        for p in range(len(labels)):
            if p == a or labels[p] != labels[a] or not negatives:
                continue
            farther = [n for n in negatives if d(n) > d(p)]
            triplets.append((a, p, min(farther, key=d) if farther else max(negatives, key=d)))
    return triplets


def grads(value: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(value, inputs))


# --------------------------------------------------------------------------- distances

@pytest.mark.parametrize("name", list(DISTANCES))
@pytest.mark.parametrize("unit", [False, True])
def test_distance_is_non_negative_zero_on_itself_and_symmetric(name, unit):
    d = DISTANCES[name]
    x, y = leaf(40, 6, seed=1, unit=unit).detach(), leaf(40, 6, seed=2, unit=unit).detach()
    assert (d(x, y) >= 0).all() and (d.matrix(x) >= 0).all()
    assert torch.equal(d(x, x), torch.zeros(40, dtype=x.dtype))
    assert torch.equal(d.matrix(x).diagonal(), torch.zeros(40, dtype=x.dtype))
    assert torch.allclose(d(x, y), d(y, x), atol=1e-12)
    assert torch.allclose(d.matrix(x), d.matrix(x).T, atol=1e-12)


@pytest.mark.parametrize("name", ["euclidean", "angular"])
@pytest.mark.parametrize("unit", [False, True])
def test_metric_distance_satisfies_the_triangle_inequality(name, unit):
    d = DISTANCES[name]
    assert d.is_metric
    x = leaf(25, 3, seed=3, unit=unit).detach()
    m = d.matrix(x)
    assert (m[:, None, :] <= m[:, :, None] + m[None, :, :] + 1e-9).all()  # d(i,k) <= d(i,j) + d(j,k)
    for i, j, k in itertools.combinations(range(8), 3):
        assert d(x[i:i + 1], x[k:k + 1]) <= d(x[i:i + 1], x[j:j + 1]) + d(x[j:j + 1], x[k:k + 1]) + 1e-12


def test_cosine_distance_breaks_the_triangle_inequality():
    cosine, angular = DISTANCES["cosine"], DISTANCES["angular"]
    assert not cosine.is_metric
    x, y, z = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]) / math.sqrt(2), torch.tensor([[0.0, 1.0]])
    # d(x, z) = 1 but d(x, y) + d(y, z) = 2 − √2 ≈ 0.586
    assert cosine(x, z).item() == pytest.approx(1.0)
    assert (cosine(x, y) + cosine(y, z)).item() == pytest.approx(2 - math.sqrt(2), abs=1e-6)
    assert cosine(x, z) > cosine(x, y) + cosine(y, z)
    # the angle between the same points obeys it (with equality: y lies on the arc from x to z)
    assert angular(x, z) <= angular(x, y) + angular(y, z) + 1e-6


@pytest.mark.parametrize("name", list(DISTANCES))
def test_distance_matrix_matches_the_row_wise_form_and_the_textbook_formula(name):
    d = DISTANCES[name]
    x, y = leaf(4, 3, seed=4).detach(), leaf(5, 3, seed=5).detach()
    expected = torch.tensor([[float(bf_distance(name, x[i], y[j])) for j in range(5)] for i in range(4)],
                            dtype=torch.float64)
    assert torch.allclose(d.matrix(x, y), expected, atol=1e-12)
    assert torch.allclose(d(x[:, None].expand(4, 5, 3).reshape(20, 3), y.repeat(4, 1)),
                          expected.reshape(20), atol=1e-12)


@pytest.mark.parametrize("name", list(DISTANCES))
def test_distance_gradient_is_finite_at_identical_and_opposite_points(name):
    d = DISTANCES[name]
    x = leaf(3, 4, seed=6)
    for other in (x.detach().clone(), -x.detach()):
        y = other.clone().requires_grad_()
        for value in (d(x, y).sum(), d.matrix(x, y).sum()):
            assert all(torch.isfinite(g).all() for g in grads(value, [x, y]))
        assert torch.isfinite(grads(d.matrix(x).sum(), [x])[0]).all()
    if name != "euclidean":  # opposite directions are as far apart as the distance goes
        assert torch.allclose(d(x, -x), torch.full((3,), d.max_value(normalized=True), dtype=x.dtype))


def test_distances_know_their_range():
    assert DISTANCES["euclidean"].max_value(normalized=True) == 2
    assert DISTANCES["euclidean"].max_value(normalized=False) == math.inf
    assert DISTANCES["cosine"].max_value(normalized=False) == 2
    assert DISTANCES["angular"].max_value(normalized=False) == 1
    assert get_distance("Angular") is DISTANCES["angular"]


# --------------------------------------------------------------------------- contrastive and triplet

@pytest.mark.parametrize("name", list(DISTANCES))
def test_contrastive_loss_matches_the_formula_in_value_and_gradient(name):
    x, y = leaf(6, 4, seed=7, unit=True), leaf(6, 4, seed=8, unit=True)
    labels = torch.tensor([1, 0, 1, 0, 0, 0])
    loss = ContrastiveLoss(PLAIN, distance=name, reduction="sum")
    distances = DISTANCES[name](x, y)
    active = (labels == 0) & (distances < loss.margin)
    assert 0 < active.sum() < (labels == 0).sum(), "the batch should have dissimilar pairs on both sides of m"
    ours = loss.compute_loss_from_embeddings([x, y], labels)
    oracle = bf_contrastive(name, loss.margin, x, y, labels.tolist())
    assert ours.item() == pytest.approx(oracle.item(), rel=1e-12)
    for mine, expected in zip(grads(ours, [x, y]), grads(oracle, [x, y])):
        assert torch.allclose(mine, expected, atol=1e-10)


@pytest.mark.parametrize("name", list(DISTANCES))
def test_triplet_loss_matches_the_formula_in_value_and_gradient(name):
    a, p, n = (leaf(6, 4, seed=s, unit=True) for s in (9, 10, 11))
    loss = TripletLoss(PLAIN, distance=name, reduction="sum")
    hinge = DISTANCES[name](a, p) - DISTANCES[name](a, n) + loss.margin
    assert 0 < (hinge > 0).sum() < 6, "the batch should have triplets on both sides of the hinge"
    ours = loss.compute_loss_from_embeddings([a, p, n])
    oracle = bf_triplet_sum(name, loss.margin, list(zip(a, p, n)))
    assert ours.item() == pytest.approx(oracle.item(), rel=1e-12)
    for mine, expected in zip(grads(ours, [a, p, n]), grads(oracle, [a, p, n])):
        assert torch.allclose(mine, expected, atol=1e-10)


@pytest.mark.parametrize("name", ["euclidean", "angular"])
def test_pair_and_triplet_losses_pass_gradcheck(name):
    a, p, n = (leaf(4, 3, seed=s) for s in (12, 13, 14))
    contrastive = ContrastiveLoss(PLAIN, distance=name, margin=0.9)
    triplet = TripletLoss(PLAIN, distance=name, margin=0.9)
    labels = torch.tensor([1, 0, 1, 0])
    assert torch.autograd.gradcheck(lambda u, v: contrastive.compute_loss_from_embeddings([u, v], labels), (a, p))
    assert torch.autograd.gradcheck(lambda u, v, w: triplet.compute_loss_from_embeddings([u, v, w]), (a, p, n))


@pytest.mark.parametrize("make", [
    lambda r: (ContrastiveLoss(PLAIN, reduction=r), 2, torch.tensor([1, 0, 0, 1, 0])),
    lambda r: (TripletLoss(PLAIN, reduction=r), 3, None),
    lambda r: (MultipleNegativesRankingLoss(PLAIN, reduction=r), 3, None),
])
def test_sum_reduction_is_mean_times_batch_size(make):
    (mean_loss, columns, labels), (sum_loss, _, _) = make("mean"), make("sum")
    embeddings = [leaf(5, 4, seed=20 + c, unit=True) for c in range(columns)]
    mean = mean_loss.compute_loss_from_embeddings(embeddings, labels)
    total = sum_loss.compute_loss_from_embeddings(embeddings, labels)
    assert total.item() == pytest.approx(5 * mean.item(), rel=1e-12)
    assert total.item() > 0


# --------------------------------------------------------------------------- validation

def test_margin_larger_than_the_distance_can_be_is_rejected():
    with pytest.raises(InputError, match=r"margin 5 exceeds the largest cosine distance \(2\): "
                                         r"the loss could never reach 0"):
        TripletLoss(PLAIN, distance="cosine", margin=5)
    with pytest.raises(InputError, match=r"largest angular distance \(1\)"):
        make_loss("contrastive", PLAIN, distance="angular", margin=1.5)


def test_euclidean_margin_is_bounded_only_for_normalised_embeddings():
    with pytest.raises(InputError, match=r"largest euclidean distance \(2\) on normalised embeddings"):
        make_loss("batch-hard", normalised_model(), margin=3)
    assert make_loss("batch-hard", PLAIN, margin=3).margin == 3


@pytest.mark.parametrize("margin", [-1, 0, float("nan"), float("inf")])
def test_margin_must_be_positive_and_finite(margin):
    with pytest.raises(InputError, match="margin must be a finite number > 0"):
        make_loss("triplet", PLAIN, margin=margin)


def test_unknown_names_are_rejected_with_one_line_errors():
    with pytest.raises(InputError, match="unknown distance 'manhattan'; choose one of: euclidean, cosine, angular"):
        make_loss("triplet", PLAIN, distance="manhattan")
    with pytest.raises(InputError, match="unknown loss 'hinge'; choose one of") as error:
        make_loss("hinge", PLAIN)
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="unknown reduction 'max'"):
        make_loss("contrastive", PLAIN, reduction="max")
    with pytest.raises(InputError, match="takes no distance or margin"):
        make_loss("mnrl", PLAIN, margin=0.5)


def test_contrastive_rejects_labels_other_than_0_and_1():
    x, y = leaf(3, 4, seed=30), leaf(3, 4, seed=31)
    with pytest.raises(ValueError, match=r"labels must be 0 \(dissimilar\) or 1 \(similar\), got 2"):
        ContrastiveLoss(PLAIN).compute_loss_from_embeddings([x, y], torch.tensor([1, 2, 0]))
    assert ContrastiveLoss(PLAIN).compute_loss_from_embeddings([x, y], torch.tensor([1.0, 0.0, 1.0])) > 0


def test_loss_given_the_wrong_number_of_text_columns_says_what_it_needs(tiny_model):
    features = [tiny_model.tokenize(["a", "b"]) for _ in range(2)]
    with pytest.raises(InputError, match="loss 'triplet' needs 3 text column.*anchor, positive, negative"):
        TripletLoss(tiny_model)(features, None)


# --------------------------------------------------------------------------- miners and mined losses

@pytest.mark.parametrize("name", list(DISTANCES))
def test_batch_hard_miner_picks_the_farthest_positive_and_closest_negative(name):
    embeddings = leaf(len(LABELS), 4, seed=40).detach()
    mined = mine_batch_hard(DISTANCES[name].matrix(embeddings), torch.tensor(LABELS))
    assert [tuple(t) for t in mined.tolist()] == bf_batch_hard(name, embeddings, LABELS)
    assert {a for a, _, _ in mined.tolist()} == {0, 1, 2, 3, 4}  # the two singleton classes are skipped


@pytest.mark.parametrize("name", list(DISTANCES))
def test_batch_semi_hard_miner_follows_the_facenet_rule(name):
    embeddings = leaf(len(LABELS), 4, seed=41).detach()
    mined = mine_batch_semi_hard(DISTANCES[name].matrix(embeddings), torch.tensor(LABELS))
    expected = bf_batch_semi_hard(name, embeddings, LABELS)
    assert sorted(tuple(t) for t in mined.tolist()) == sorted(expected)
    assert len(expected) == 3 * 2 + 2 * 1  # every ordered same-label pair


def test_batch_semi_hard_miner_falls_back_to_the_farthest_negative():
    # on a line: anchor 0 at 0, its positive at 3, negatives at 1 and 2 (both closer than the positive)
    points = torch.tensor([[0.0], [3.0], [1.0], [2.0]])
    mined = mine_batch_semi_hard(DISTANCES["euclidean"].matrix(points), torch.tensor([0, 0, 1, 1]))
    assert mined.tolist()[0] == [0, 1, 3]
    # anchor 1 (at 3) sees its positive at distance 3, negatives at 2 and 1: none farther, farthest is point 2
    assert mined.tolist()[1] == [1, 0, 2]
    # negatives 2 and 3 as anchors: positive at distance 1, the closest farther negative
    assert mined.tolist()[2:] == [[2, 3, 1], [3, 2, 0]]


@pytest.mark.parametrize("loss_class,oracle", [(BatchHardTripletLoss, bf_batch_hard),
                                               (BatchSemiHardTripletLoss, bf_batch_semi_hard)])
@pytest.mark.parametrize("name", list(DISTANCES))
def test_mined_triplet_loss_matches_the_formula_in_value_and_gradient(loss_class, oracle, name):
    embeddings = leaf(len(LABELS), 4, seed=42, unit=True)
    loss = loss_class(PLAIN, distance=name)
    ours = loss.compute_loss_from_embeddings([embeddings], torch.tensor(LABELS))
    triplets = oracle(name, embeddings.detach(), LABELS)
    expected = bf_triplet_sum(name, loss.margin, [(embeddings[a], embeddings[p], embeddings[n])
                                                   for a, p, n in triplets]) / len(triplets)
    assert ours.item() == pytest.approx(expected.item(), rel=1e-12) and ours.item() > 0
    (mine,), (theirs,) = grads(ours, [embeddings]), grads(expected, [embeddings])
    assert torch.allclose(mine, theirs, atol=1e-10)
    assert torch.autograd.gradcheck(lambda e: loss.compute_loss_from_embeddings([e], torch.tensor(LABELS)),
                                    (embeddings,))


def test_mined_losses_equal_sentence_transformers_when_every_anchor_has_a_positive_and_a_negative():
    from sentence_transformers.sentence_transformer import losses as st

    embeddings, labels = leaf(6, 4, seed=43).detach().float(), torch.tensor([0, 0, 1, 1, 2, 2])
    euclidean = st.BatchHardTripletLossDistanceFunction.euclidean_distance
    for ours, theirs in [(BatchHardTripletLoss, st.BatchHardTripletLoss),
                         (BatchSemiHardTripletLoss, st.BatchSemiHardTripletLoss)]:
        mine = ours(PLAIN, margin=2.0).compute_loss_from_embeddings([embeddings], labels)
        reference = theirs(PLAIN, distance_metric=euclidean, margin=2.0).compute_loss_from_embeddings(
            [embeddings], labels)
        assert mine.item() == pytest.approx(reference.item(), rel=1e-5)


def test_mined_loss_without_any_valid_triplet_is_zero_and_differentiable():
    embeddings = leaf(4, 3, seed=44)
    for loss_class in (BatchHardTripletLoss, BatchSemiHardTripletLoss):
        value = loss_class(PLAIN).compute_loss_from_embeddings([embeddings], torch.tensor([5, 5, 5, 5]))
        assert value.item() == 0
        (gradient,) = grads(value, [embeddings])
        assert torch.equal(gradient, torch.zeros_like(embeddings))


# --------------------------------------------------------------------------- in-batch negatives

@pytest.mark.parametrize("columns", [2, 3])
def test_mnrl_equals_sentence_transformers_with_and_without_a_hard_negative_column(tiny_model, columns):
    from sentence_transformers.sentence_transformer import losses as st

    texts = [["cats purr", "dogs bark", "python code"], ["a cat purrs", "a dog barks", "a program"],
             ["the moon", "bread and yeast", "a river"]][:columns]
    features = [tiny_model.tokenize(column) for column in texts]
    tiny_model.eval()
    with torch.no_grad():
        ours = MultipleNegativesRankingLoss(tiny_model)(features, None)
        theirs = st.MultipleNegativesRankingLoss(tiny_model)(features, None)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    assert MultipleNegativesRankingLoss(tiny_model).scale == 20.0


@pytest.mark.parametrize("columns", [2, 3])
def test_cached_mnrl_gives_mnrls_loss_and_gradient_on_one_batch(tiny_model, columns):
    import copy

    texts = [["cats purr", "dogs bark", "python code", "the sea"], ["a cat purrs", "a dog barks", "a program", "waves"],
             ["the moon", "bread and yeast", "a river", "a hill"]][:columns]
    tiny_model.eval()  # no dropout: both passes see the same network
    other = copy.deepcopy(tiny_model)
    plain = make_loss("mnrl", tiny_model)([tiny_model.tokenize(t) for t in texts], None)
    cached = make_loss("cached-mnrl", other, mini_batch_size=2)([other.tokenize(t) for t in texts], None)
    assert cached.item() == pytest.approx(plain.item(), rel=1e-5)
    plain.backward()
    cached.backward()
    for mine, theirs in zip(tiny_model.parameters(), other.parameters()):
        if mine.grad is not None:
            torch.testing.assert_close(theirs.grad, mine.grad, rtol=1e-4, atol=1e-6)


def test_a_mini_batch_size_goes_with_a_cached_loss_only():
    with pytest.raises(InputError, match="--mini-batch-size goes with a cached loss"):
        make_loss("mnrl", PLAIN, mini_batch_size=4)
    with pytest.raises(InputError, match="at least 1"):
        make_loss("cached-mnrl", PLAIN, mini_batch_size=0)


# --------------------------------------------------------------------------- the full path on the tiny model

FORWARD_CASES = {
    "contrastive": ([["cats purr", "dogs bark", "rain falls"], ["a cat purrs", "python code", "wet weather"]],
                    torch.tensor([1.0, 0.0, 1.0])),
    "triplet": ([["cats purr", "dogs bark"], ["a cat purrs", "a dog barks"], ["python code", "the moon"]], None),
    "batch-hard": ([["cats purr", "a cat purrs", "dogs bark", "a dog barks", "the moon"]],
                   torch.tensor([0, 0, 1, 1, 2])),
    "batch-semi-hard": ([["cats purr", "a cat purrs", "dogs bark", "a dog barks", "the moon"]],
                        torch.tensor([0, 0, 1, 1, 2])),
    "mnrl": ([["cats purr", "dogs bark"], ["a cat purrs", "a dog barks"]], None),
    "cached-mnrl": ([["cats purr", "dogs bark"], ["a cat purrs", "a dog barks"]], None),
}


@pytest.mark.parametrize("name", list(LOSS_SPECS))
def test_forward_on_the_tiny_model_sends_gradient_to_its_parameters(tiny_model, name):
    columns, labels = FORWARD_CASES[name]
    loss = make_loss(name, tiny_model)
    value = loss([tiny_model.tokenize(texts) for texts in columns], labels)
    assert value.ndim == 0 and torch.isfinite(value) and value.item() > 0
    value.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tiny_model.parameters())
    assert isinstance(loss.get_config_dict(), dict) and "@" in loss.citation and loss.model is tiny_model


def test_sentence_transformers_trainer_trains_with_our_triplet_loss(tiny_model, tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    data = Dataset.from_dict({
        "anchor": ["cats purr", "dogs bark", "python code", "bake bread"],
        "positive": ["a cat purrs", "a dog barks", "a program", "bread with yeast"],
        "negative": ["the moon", "a river", "a cat purrs", "python code"],
    })
    check_columns("triplet", data.column_names)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3,
        report_to=[], use_cpu=True, save_strategy="no", batch_sampler=batch_sampler_for("triplet"))
    trainer = SentenceTransformerTrainer(model=tiny_model, args=args, train_dataset=data,
                                         loss=make_loss("triplet", tiny_model))
    result = trainer.train()
    assert trainer.state.global_step == 2 and math.isfinite(result.training_loss)


# --------------------------------------------------------------------------- registry

def test_registry_defaults_and_column_requirements():
    from sentence_transformers.base.sampler import BatchSamplers

    assert set(LOSS_SPECS) == {"contrastive", "triplet", "batch-hard", "batch-semi-hard", "mnrl", "cached-mnrl"}
    assert isinstance(make_loss("batch-semi-hard", PLAIN), BatchSemiHardTripletLoss)
    assert make_loss("contrastive", PLAIN).margin == 1.0 and make_loss("triplet", PLAIN).margin == 0.5
    assert make_loss("triplet", PLAIN, distance="angular").margin == 0.25
    assert make_loss("contrastive", PLAIN, distance="cosine").get_config_dict() == {
        "distance": "cosine", "margin": 0.5, "reduction": "mean"}
    assert batch_sampler_for("mnrl") == BatchSamplers.NO_DUPLICATES
    check_columns("mnrl", ["query", "positive", "negative_1", "negative_2"])
    check_columns("contrastive", ["text_a", "label", "text_b"])
    with pytest.raises(InputError, match="loss 'triplet' needs columns anchor, positive, negative in that order; "
                                         "the data has anchor, negative, positive"):
        check_columns("triplet", ["anchor", "negative", "positive"])
    with pytest.raises(InputError, match="loss 'batch-hard' needs columns text, label"):
        check_columns("batch-hard", ["text"])


@pytest.mark.parametrize("name", list(LOSS_SPECS))
def test_each_spec_names_the_class_that_implements_its_loss(name, tiny_model):
    import textmetric.training.losses as losses

    spec = LOSS_SPECS[name]
    assert spec.loss_class.loss_name == name
    assert getattr(losses, spec.class_name) is spec.loss_class  # importable from the package, on first use
    model = tiny_model if spec.mini_batches else PLAIN  # GradCache slices a real model's token inputs
    assert type(make_loss(name, model)) is spec.loss_class


@pytest.mark.parametrize("name,negatives", [  # a loss that requires negatives always gets some
    (name, negatives) for name, spec in LOSS_SPECS.items()
    for negatives in ([("n1", "n2")] if spec.negatives == "required" else [None, ("n1", "n2")])])
def test_each_spec_lays_out_rows_its_own_loss_accepts(name, negatives):
    from textmetric.training.rows import TrainingPair

    spec = LOSS_SPECS[name]
    pairs = [TrainingPair("q1", "cats", "a cat", negatives), TrainingPair("q1", "cats", "kittens", negatives),
             TrainingPair("q2", "dogs", "a dog", negatives)]
    columns, rows = spec.build_rows(pairs)
    spec.check_columns(columns)
    assert rows and all(len(row) == len(columns) for row in rows)


def test_rows_follow_each_loss_layout():
    from textmetric.training.rows import TrainingPair, class_rows, labelled_pair_rows, query_positive_rows

    pairs = [TrainingPair("q1", "cats", "a cat", ("rain",)), TrainingPair("q1", "cats", "kittens", ("code",)),
             TrainingPair("q2", "dogs", "a dog", ("moon",))]
    assert class_rows(("text", "label"), pairs)[1] == [("cats", 0), ("a cat", 0), ("kittens", 0), ("dogs", 1),
                                                       ("a dog", 1)]
    assert labelled_pair_rows(("text_a", "text_b", "label"), pairs[:1])[1] == [("cats", "a cat", 1),
                                                                               ("cats", "rain", 0)]
    assert query_positive_rows(("query", "positive"), [p._replace(negatives=None) for p in pairs]) == (
        ("query", "positive"), [("cats", "a cat"), ("cats", "kittens"), ("dogs", "a dog")])
    assert query_positive_rows(("query", "positive"), pairs)[0] == ("query", "positive", "negative")


def test_batch_size_limits_come_from_the_spec():
    LOSS_SPECS["mnrl"].check_batch_size(1)
    for size in (2, 5):
        with pytest.raises(InputError, match="loss 'batch-semi-hard' groups texts by label: --batch-size must be "
                                             "even and at least 4"):
            LOSS_SPECS["batch-semi-hard"].check_batch_size(size)


def test_cli_offers_the_registry_losses_and_distances():
    from textmetric.cli import cli
    from textmetric.training.losses import DEFAULT_LOSS

    options = {p.name: p for p in cli.commands["train"].params}
    assert list(options["loss"].type.choices) == list(LOSS_SPECS) and options["loss"].default == DEFAULT_LOSS
    assert list(options["distance"].type.choices) == list(DISTANCES)


def test_the_registry_the_cli_and_reports_load_neither_torch_nor_the_trainer():
    import subprocess
    import sys

    heavy = ("torch", "sentence_transformers", "textmetric.training.trainer")
    code = ("import sys, textmetric, textmetric.cli, textmetric.evaluation.report, textmetric.training.losses; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
