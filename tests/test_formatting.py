"""How scores are shown: text tables, the randomisation test's description, and numbers safe for JSON."""

import math

from textmetric.evaluation.compare import Comparison
from textmetric.evaluation.formatting import finite_or_none, text_table, to_json


def test_a_text_table_aligns_the_first_column_left_and_the_others_right():
    assert text_table(["metric", "a"], [["map", "0.5"], ["ndcg@10", "0.25"]]).splitlines() == [
        "metric      a",
        "map       0.5",
        "ndcg@10  0.25"]


def test_json_numbers_are_finite_or_null():
    assert [finite_or_none(v) for v in (1.5, math.nan, math.inf, -math.inf, 3, "x")] == [1.5, None, None, None, 3, "x"]


def test_json_text_has_null_wherever_a_number_is_not_finite_at_any_depth():
    import numpy as np

    value = {"a": [1.5, math.nan, (np.float32("inf"), -math.inf)], "b": {"c": np.float64("nan"), "d": np.int64(3)},
             "e": True, "f": "nan"}
    assert to_json(value) == '{"a": [1.5, null, [null, null]], "b": {"c": null, "d": 3}, "e": true, "f": "nan"}'


def test_the_randomisation_test_says_whether_it_enumerated_every_sign_flip():
    assert Comparison({}, num_queries=3, permutations=8).sign_flips == "all 2^3 sign flips"
    assert Comparison({}, num_queries=4, permutations=8, seed=7).sign_flips == "8 random sign flips, seed 7"
    assert Comparison({}, num_queries=20).sign_flips == "10,000 random sign flips, seed 42"
