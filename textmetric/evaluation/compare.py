"""Is run B better than run A? Per-metric means with two paired significance tests, as pure functions.

Both tests look at the per-query differences ``d = B - A`` of one metric:

* the paired t-test: ``t = mean(d) / (sd(d) / sqrt(n))`` with ``sd`` the sample standard
  deviation (n - 1), two-sided p from Student's t with n - 1 degrees of freedom
  (``scipy.stats.ttest_rel``);
* the paired randomisation test (Fisher's sign-flip test): under the null hypothesis
  each difference is as likely to have either sign, so p is the share of sign flips
  whose ``|mean|`` is at least the observed ``|mean(d)|`` (two-sided). With ``2**n``
  no larger than the number of permutations every flip is enumerated (an exact p);
  otherwise ``permutations`` random flips are drawn from a seeded generator and
  ``p = (hits + 1) / (permutations + 1)``, which never reports an impossible 0.

Which queries: those judged in the qrels and present in both runs. A judged query
that only one run has is left out and counted (``only_in_a`` / ``only_in_b``); with
``complete=True`` every judged query is compared instead, a run missing it scoring 0
there (trec_eval ``-c``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..data import Qrels
from ..errors import InputError, option, warn
from .formatting import finite_or_none, text_table
from .metrics import DEFAULT_METRICS, DEFAULT_RELEVANCE_LEVEL, Evaluation, Run, evaluate

__all__ = ["paired_t_test", "randomization_test", "compare_runs", "compare_evaluations", "Comparison",
           "MetricComparison", "format_comparison", "check_permutations", "DEFAULT_PERMUTATIONS", "MAX_PERMUTATIONS",
           "DEFAULT_SEED"]

DEFAULT_PERMUTATIONS = 10_000
MAX_PERMUTATIONS = 10_000_000  # a p-value to 1e-7, far below any significance level; more only takes longer
DEFAULT_SEED = 42
_EXACT_BLOCK = 1 << 16  # sign vectors enumerated at a time (2^26 of them at once would take 13 GiB)
_TIE = 1e-12  # per-query values closer than this count as tied; flipped means this close count as extreme


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"paired tests need two flat sequences of equal length, got {a.shape} and {b.shape}")
    return b - a


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """``(t, p)`` of the two-sided paired t-test on ``b - a``; NaN for fewer than two pairs.

    When every difference is the same: t = 0 and p = 1 if they are all 0, else t = +-inf, p = 0.
    """
    d = _differences(a, b)
    if len(d) < 2:
        return math.nan, math.nan
    if np.ptp(d) <= _TIE:
        mean = float(d.mean())
        return (0.0, 1.0) if abs(mean) <= _TIE else (math.copysign(math.inf, mean), 0.0)
    from scipy.stats import ttest_rel

    result = ttest_rel(np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64))
    return float(result.statistic), float(result.pvalue)


def randomization_test(a: Sequence[float], b: Sequence[float], *, permutations: int = DEFAULT_PERMUTATIONS,
                       seed: int = DEFAULT_SEED, chunk: int = 1000) -> float:
    """Two-sided p of the paired randomisation (sign-flip) test on ``b - a``; NaN with no pairs.

    Exact over all ``2**n`` sign vectors when that is at most ``permutations``, else
    ``permutations`` seeded random flips with ``p = (hits + 1) / (permutations + 1)``.
    Either way the flips are drawn ``chunk`` at a time (exact ones in larger blocks), so memory stays small.
    """
    check_permutations(permutations, seed)
    d = _differences(a, b)
    n = len(d)
    if n == 0:
        return math.nan
    observed = abs(float(d.mean())) - _TIE
    if 2 ** n <= permutations:
        shifts = np.arange(n, dtype=np.int64)[None, :]
        hits = 0
        for start in range(0, 2 ** n, _EXACT_BLOCK):
            flips = np.arange(start, min(start + _EXACT_BLOCK, 2 ** n), dtype=np.int64)[:, None] >> shifts
            signs = 1.0 - 2.0 * (flips & 1)
            hits += int(np.count_nonzero(np.abs(signs @ d) / n >= observed))
        return hits / 2 ** n
    rng = np.random.default_rng(seed)
    hits, left = 0, permutations
    while left:
        size = min(chunk, left)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8).astype(np.float64) * 2.0 - 1.0
        hits += int(np.count_nonzero(np.abs(signs @ d) / n >= observed))
        left -= size
    return (hits + 1) / (permutations + 1)


def check_permutations(permutations: int, seed: int = DEFAULT_SEED) -> None:
    """Refuse a number of sign flips outside ``1..MAX_PERMUTATIONS``, or a seed numpy cannot take (a negative one)."""
    if isinstance(permutations, bool) or not isinstance(permutations, numbers.Integral) \
            or not 1 <= permutations <= MAX_PERMUTATIONS:
        raise InputError(f"{option('permutations')} must be a whole number from 1 to {MAX_PERMUTATIONS:,}, "
                         f"got {permutations!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"{option('seed')} must be a whole number >= 0, got {seed!r}")


@dataclass
class MetricComparison:
    """One metric over the compared queries: both means, B - A, both tests, and the per-query tally."""

    mean_a: float
    mean_b: float
    difference: float
    t: float
    p_t_test: float
    p_randomization: float
    improved: int  # queries where B scores higher than A
    worsened: int
    tied: int


@dataclass
class Comparison:
    """Run B against run A, metric by metric, over ``num_queries`` paired queries."""

    metrics: dict[str, MetricComparison]
    num_queries: int
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    complete: bool = False
    permutations: int = DEFAULT_PERMUTATIONS
    seed: int = DEFAULT_SEED

    def as_dict(self) -> dict:
        """Plain JSON-ready data (NaN and infinities become null)."""
        return {"num_queries": self.num_queries, "only_in_a": len(self.only_in_a), "only_in_b": len(self.only_in_b),
                "complete": self.complete, "permutations": self.permutations, "seed": self.seed,
                "metrics": {name: {k: finite_or_none(v) for k, v in asdict(m).items()}
                            for name, m in self.metrics.items()}}

    @property
    def sign_flips(self) -> str:
        """Which sign flips the randomisation test drew: all ``2^n`` (an exact p), or seeded random ones."""
        if 2 ** self.num_queries <= self.permutations:
            return f"all 2^{self.num_queries} sign flips"
        return f"{self.permutations:,} random sign flips, seed {self.seed}"


def compare_evaluations(a: Evaluation, b: Evaluation, *, permutations: int = DEFAULT_PERMUTATIONS,
                        seed: int = DEFAULT_SEED, complete: bool = False) -> Comparison:
    """Compare two evaluations' per-query scores over the queries both have (every metric both have)."""
    check_permutations(permutations, seed)
    common = sorted(set(a.per_query) & set(b.per_query))
    names = [name for name in a.means if name in b.means]
    metrics: dict[str, MetricComparison] = {}
    for name in names:
        va = np.array([a.per_query[q][name] for q in common], dtype=np.float64)
        vb = np.array([b.per_query[q][name] for q in common], dtype=np.float64)
        d = vb - va
        t, p_t = paired_t_test(va, vb)
        metrics[name] = MetricComparison(
            mean_a=float(math.fsum(va) / len(va)) if len(va) else 0.0,
            mean_b=float(math.fsum(vb) / len(vb)) if len(vb) else 0.0,
            difference=float(math.fsum(d) / len(d)) if len(d) else 0.0, t=t, p_t_test=p_t,
            p_randomization=randomization_test(va, vb, permutations=permutations, seed=seed),
            improved=int(np.count_nonzero(d > _TIE)), worsened=int(np.count_nonzero(d < -_TIE)),
            tied=int(np.count_nonzero(np.abs(d) <= _TIE)))
    return Comparison(metrics=metrics, num_queries=len(common),
                      only_in_a=sorted(set(a.per_query) - set(b.per_query)),
                      only_in_b=sorted(set(b.per_query) - set(a.per_query)),
                      complete=complete, permutations=permutations, seed=seed)


def compare_runs(run_a: Run, run_b: Run, qrels: Qrels, metrics: Sequence[str] = DEFAULT_METRICS, *,
                 relevance_level: int = DEFAULT_RELEVANCE_LEVEL, complete: bool = False,
                 permutations: int = DEFAULT_PERMUTATIONS, seed: int = DEFAULT_SEED) -> Comparison:
    """Score both runs against ``qrels`` and compare them query by query (see the module docstring).

    Judged queries that a run lacks are counted in a warning; a run answering no judged query, or
    (without ``complete``) no judged query in both runs, is an InputError.
    """
    check_permutations(permutations, seed)
    judged = [q for q, judgments in qrels.items() if judgments]
    only_a = [q for q in judged if q in run_a and q not in run_b]
    only_b = [q for q in judged if q in run_b and q not in run_a]
    for label, run in (("A", run_a), ("B", run_b)):
        if judged and not any(q in run for q in judged):
            raise InputError(f"run {label} answers none of the {len(judged)} judged queries: "
                             f"is it the run of these qrels?")
    if complete:
        for label, run in (("A", run_a), ("B", run_b)):
            lacking = [q for q in judged if q not in run]
            if lacking:
                warn(f"{_queries(lacking)} missing from run {label} (first: '{lacking[0]}'): "
                     f"they score 0 there")
        # an empty ranking scores 0 on every metric, as complete scoring counts a missing query
        run_a, run_b = ({**{q: {} for q in judged}, **run} for run in (run_a, run_b))
    else:
        for label, only in (("A", only_a), ("B", only_b)):
            if only:
                warn(f"{_queries(only)} only in run {label} (first: '{only[0]}'): left out of the comparison "
                     f"({option('complete', value='True')} scores them 0 in the other run)")
        absent = [q for q in judged if q not in run_a and q not in run_b]
        if absent:
            warn(f"{_queries(absent)} in neither run (first: '{absent[0]}'): left out")
        common = {q: qrels[q] for q in judged if q in run_a and q in run_b}
        if not common:
            raise InputError("no judged query is in both runs: nothing to compare")
        qrels = common  # both runs answer every query left, so scoring them warns of nothing
    a = evaluate(run_a, qrels, metrics, relevance_level=relevance_level, complete=complete)
    b = evaluate(run_b, qrels, metrics, relevance_level=relevance_level, complete=complete)
    result = compare_evaluations(a, b, permutations=permutations, seed=seed, complete=complete)
    result.only_in_a, result.only_in_b = sorted(only_a), sorted(only_b)
    return result


def _queries(ids: Sequence[str]) -> str:
    return f"{len(ids)} judged quer{'y is' if len(ids) == 1 else 'ies are'}"


def _number(value: float, digits: int = 4) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def format_comparison(comparison: Comparison, labels: Mapping[str, str] | None = None) -> str:
    """A text table: one row per metric, A and B means, B - A, t and p of both tests, queries better/worse/tied."""
    labels = labels or {"a": "A", "b": "B"}
    header = ["metric", labels["a"], labels["b"], "B - A", "t", "p (t-test)", "p (random.)", "better", "worse",
              "tied"]
    rows = [[name, _number(m.mean_a), _number(m.mean_b), ("+" if m.difference >= 0 else "") + _number(m.difference),
             _number(m.t, 3), _number(m.p_t_test), _number(m.p_randomization), str(m.improved), str(m.worsened),
             str(m.tied)] for name, m in comparison.metrics.items()]
    return text_table(header, rows)
