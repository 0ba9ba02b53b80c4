"""Comparing two runs: the paired t-test and randomisation test against hand computations, and the CLI."""

import json
import math
import statistics

import pytest

from textmetric.errors import InputError
from textmetric.evaluation.compare import compare_runs, paired_t_test, randomization_test

A = [0.50, 0.20, 0.90, 0.40, 0.10, 0.70, 0.30, 0.60]
B = [0.70, 0.25, 0.85, 0.60, 0.30, 0.75, 0.30, 0.90]


def test_the_t_statistic_is_mean_over_standard_error_by_hand():
    d = [b - a for a, b in zip(A, B)]
    by_hand = statistics.mean(d) / (statistics.stdev(d) / math.sqrt(len(d)))
    t, p = paired_t_test(A, B)
    assert t == pytest.approx(by_hand, rel=1e-12)
    assert 0 < p < 0.05


def test_the_t_test_p_value_matches_students_t_with_two_degrees_of_freedom_by_hand():
    a, b = [0.1, 0.4, 0.3], [0.3, 0.5, 0.6]  # d = 0.2, 0.1, 0.3
    d = [0.2, 0.1, 0.3]
    t_by_hand = statistics.mean(d) / (statistics.stdev(d) / math.sqrt(3))  # = 0.2 / (0.1 / sqrt 3) = 2 sqrt 3
    p_by_hand = 1 - abs(t_by_hand) / math.sqrt(2 + t_by_hand ** 2)  # two-sided tail of t with 2 d.o.f., closed form
    t, p = paired_t_test(a, b)
    assert t == pytest.approx(t_by_hand, rel=1e-9) and t == pytest.approx(2 * math.sqrt(3), rel=1e-9)
    assert p == pytest.approx(p_by_hand, rel=1e-9)


def test_constant_differences_and_too_few_pairs_are_handled():
    assert paired_t_test([0.1, 0.2], [0.1, 0.2]) == (0.0, 1.0)
    assert paired_t_test([0.1, 0.2], [0.2, 0.3]) == (math.inf, 0.0)
    assert all(math.isnan(x) for x in paired_t_test([0.1], [0.2]))


def test_the_randomisation_test_enumerates_every_sign_flip_for_few_queries():
    # d = 0.1, 0.2, 0.3: of the 8 sign patterns only +++ and --- reach |mean| = 0.2
    assert randomization_test([0, 0, 0], [0.1, 0.2, 0.3]) == 0.25
    # d = 0.1, 0.1, 0.3: sums +-0.5, +-0.3, +-0.3, +-0.1; only +++ and --- reach |sum| = 0.5
    assert randomization_test([0, 0, 0], [0.1, 0.1, 0.3]) == 0.25
    assert randomization_test([0, 0], [0.0, 0.0]) == 1.0


def test_the_exact_randomisation_test_counts_every_sign_flip_across_its_blocks():
    import itertools

    from textmetric.evaluation import compare

    d = [0.05 * (i % 7) - 0.1 for i in range(18)]  # 2^18 sign vectors: four blocks of 2^16
    observed = abs(sum(d) / len(d)) - 1e-12
    hits = sum(abs(sum(s * x for s, x in zip(signs, d))) / len(d) >= observed
               for signs in itertools.product((1, -1), repeat=len(d)))
    assert 2 ** 18 > compare._EXACT_BLOCK
    assert randomization_test([0.0] * 18, d, permutations=2 ** 18) == hits / 2 ** 18


def test_the_exact_randomisation_test_takes_little_memory_however_many_flips_it_enumerates():
    import tracemalloc

    d = [0.01 * i for i in range(20)]  # 2^20 sign vectors: 168 MB of them at once, and more to flip them
    tracemalloc.start()
    try:
        randomization_test([0.0] * 20, d, permutations=2 ** 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2 ** 20


@pytest.mark.parametrize("setting", [{"permutations": 10 ** 8}, {"permutations": 0}, {"seed": -1}])
def test_too_many_sign_flips_or_a_negative_seed_are_refused(setting):
    with pytest.raises(InputError, match=f"^{next(iter(setting))} must be a whole number"):
        randomization_test(A, B, **setting)


def test_compare_runs_refuses_too_many_sign_flips_before_scoring(monkeypatch):
    monkeypatch.setattr("textmetric.evaluation.compare.evaluate", lambda *a, **k: pytest.fail("scored"))
    with pytest.raises(InputError, match="permutations must be a whole number from 1 to 10,000,000"):
        compare_runs({"q": {"d": 1.0}}, {"q": {"d": 1.0}}, {"q": {"d": 1}}, permutations=10 ** 8)


def test_the_randomisation_test_is_deterministic_with_its_seed():
    import random

    rng = random.Random(7)
    a = [rng.random() for _ in range(40)]
    b = [x + rng.gauss(0.05, 0.2) for x in a]
    first = randomization_test(a, b, permutations=2000, seed=3)
    assert randomization_test(a, b, permutations=2000, seed=3) == first
    assert randomization_test(a, b, permutations=2000, seed=4) != first
    assert (first * 2001) == pytest.approx(round(first * 2001))  # (hits + 1) / (permutations + 1)
    # a large sample agrees with the t-test's normal approximation
    assert randomization_test(a, b, permutations=20000, seed=3) == pytest.approx(paired_t_test(a, b)[1], abs=0.02)


def test_compare_runs_pairs_the_queries_both_runs_have_and_tallies_them():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}, "q4": {"d": 1}}
    run_a = {"q1": {"a": 1.0, "x": 0.5}, "q2": {"x": 1.0, "b": 0.5}, "q3": {"c": 1.0}, "q4": {"d": 1.0}}
    run_b = {"q1": {"x": 1.0, "a": 0.5}, "q2": {"b": 1.0, "x": 0.5}, "q3": {"c": 1.0}}
    result = compare_runs(run_a, run_b, qrels, ["map"])
    m = result.metrics["map"]
    assert result.num_queries == 3 and result.only_in_a == ["q4"]
    assert (m.mean_a, m.mean_b, m.difference) == pytest.approx((5 / 6, 5 / 6, 0.0))  # AP 1, 1/2, 1 and 1/2, 1, 1
    assert (m.improved, m.worsened, m.tied) == (1, 1, 1)
    complete = compare_runs(run_a, run_b, qrels, ["map"], complete=True)
    assert complete.num_queries == 4 and complete.metrics["map"].worsened == 2  # q4 scores 0 in run B


# -- the CLI -------------------------------------------------------------------------------------

@pytest.fixture
def two_runs(tmp_path):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(6)))
    a = tmp_path / "a.run"
    b = tmp_path / "b.run"
    # run A ranks the relevant document 2nd everywhere; run B 1st for q0-q3, 3rd for q4, 2nd for q5
    a.write_text("".join(f"q{i} Q0 x 1 0.9 A\nq{i} Q0 d{i} 2 0.8 A\nq{i} Q0 y 3 0.7 A\n" for i in range(6)))
    b.write_text("".join(f"q{i} Q0 d{i} 1 0.9 B\nq{i} Q0 x 2 0.8 B\n" for i in range(4))
                 + "q4 Q0 x 1 0.9 B\nq4 Q0 y 2 0.8 B\nq4 Q0 d4 3 0.7 B\n"
                 + "q5 Q0 x 1 0.9 B\nq5 Q0 d5 2 0.8 B\n")
    return a, b, qrels


def test_compare_cli_prints_means_both_tests_and_the_tally(cli, two_runs):
    a, b, qrels = two_runs
    code, out, err = cli("compare", "--run", a, "--run", b, "--qrels", qrels, "--metrics", "map,mrr@10")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2] == "queries: 6 (judged queries present in both runs)"
    header = next(line for line in lines if line.startswith("metric")).split()
    row = next(line for line in lines if line.startswith("map")).split()
    assert header[:4] == ["metric", "A", "B", "B"]
    assert row[1:3] == ["0.5000", "0.8056"]  # AP 1/2 each; 1, 1, 1, 1, 1/3, 1/2 and row[-3:] == ["4", "1", "1"]
    assert "all 2^6 sign flips" in out


def test_compare_cli_json_agrees_with_the_python_function(cli, two_runs):
    from textmetric.data import load_qrels
    from textmetric.evaluation.runs import read_run

    a, b, qrels = two_runs
    code, out, _ = cli("compare", "--run", a, "--run", b, "--qrels", qrels, "--metrics", "map", "--json")
    result = json.loads(out)
    expected = compare_runs(read_run(a), read_run(b), load_qrels(qrels), ["map"])
    assert code == 0 and result["metrics"]["map"]["t"] == pytest.approx(expected.metrics["map"].t)
    assert result["metrics"]["map"]["p_randomization"] == expected.metrics["map"].p_randomization


def test_compare_prints_trec_eval_and_ranx_names_as_given(cli, two_runs):
    a, b, qrels = two_runs
    code, out, err = cli("compare", a, b, "--qrels", qrels, "--metrics", "map_cut_10,MRR@10")
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    assert rows["map_cut_10"][1:3] == ["0.5000", "0.8056"] and rows["MRR@10"][1:3] == ["0.5000", "0.8056"]
    code, out, _ = cli("compare", a, b, "--qrels", qrels, "--metrics", "map_cut_10,MRR@10", "--json")
    assert code == 0 and list(json.loads(out)["metrics"]) == ["map_cut_10", "MRR@10"]


def test_compare_warns_about_judged_queries_only_one_run_has(cli, two_runs):
    a, b, qrels = two_runs
    b.write_text("\n".join(line for line in b.read_text().splitlines() if not line.startswith("q5")) + "\n")
    code, out, err = cli("compare", "--run", a, "--run", b, "--qrels", qrels, "--metrics", "map")
    assert code == 0 and "queries: 5" in out
    assert "1 judged query is only in run A (first: 'q5')" in err


def test_compare_with_a_malformed_run_is_exit_2_and_one_line(cli, two_runs, tmp_path):
    a, _, qrels = two_runs
    bad = tmp_path / "bad.run"
    bad.write_text("q0 Q0 d0 1 0.9 B\nq1 Q0 d1 1 high B\n")
    code, out, err = cli("compare", "--run", a, "--run", bad, "--qrels", qrels)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{bad}:2" in err and "score 'high' is not a number" in err


def test_compare_refuses_a_hundred_million_sign_flips_at_once(cli, two_runs):
    a, b, qrels = two_runs
    code, out, err = cli("compare", "--run", a, "--run", b, "--qrels", qrels, "--permutations", "100000000")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "'--permutations': 100000000 is not in the range 1<=x<=10000000" in err
