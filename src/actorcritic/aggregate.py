"""Statistics across seeds, as the field reports them (Agarwal et al. 2021, "Deep RL at the edge of the
statistical precipice"): the mean, the median and the interquartile mean (IQM, the mean of the middle 50% of
runs), each with a 95% stratified-bootstrap confidence interval. The bootstrap is rliable's (extra `stats`);
its random state is fixed, so the same scores always give the same intervals."""

from __future__ import annotations

import contextlib
import warnings
from typing import Sequence

import numpy as np

from actorcritic.errors import ActorCriticError

BOOTSTRAP_REPS = 2000
"""Bootstrap replications: the CI bounds of 8 seeds move by under 1% of the IQM between 2,000 and 50,000."""
CONFIDENCE = 0.95
AGGREGATES = ("mean", "median", "iqm")


def require_rliable() -> None:
    """Refuse, before any training, a multi-seed run whose statistics cannot be computed."""
    try:
        import rliable  # noqa: F401
    except ImportError:
        raise ActorCriticError("statistics across seeds need rliable: pip install 'actorcritic[stats]' (or train one --seed)") from None


def _aggregate_functions(environments: int = 1):
    from rliable import metrics

    # rliable's aggregate_median is the median across tasks of each task's mean over runs: on one environment
    # that is the mean, so there the median is the median run
    median = metrics.aggregate_median if environments > 1 else np.median
    return {"mean": metrics.aggregate_mean, "median": median, "iqm": metrics.aggregate_iqm}


@contextlib.contextmanager
def _fixed_bootstrap():
    """rliable's stratified bootstrap draws its resampling indices from NumPy's global generator whatever
    random_state says (rliable 1.2, StratifiedBootstrap.update_indices): seed that one for the call and
    put it back, so the same scores give the same intervals in every process."""
    global_state = np.random.get_state()
    np.random.seed(0)
    try:
        with warnings.catch_warnings():  # arch's notice that it will take a NumPy Generator instead of a RandomState
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        np.random.set_state(global_state)


def _interval_estimates(scores, function) -> tuple[np.ndarray, np.ndarray]:
    """rliable's point estimates and 95% CIs of `function` on scores [runs, tasks, ...] (or on a pair of
    such arrays, bootstrapped independently)."""
    from rliable import library

    with _fixed_bootstrap():
        points, intervals = library.get_interval_estimates(
            {"run": scores}, function, reps=BOOTSTRAP_REPS, confidence_interval_size=CONFIDENCE, random_state=np.random.RandomState(0)
        )
    return points["run"], intervals["run"]


def aggregate_scores(scores) -> dict[str, float | list[float]]:
    """One score per seed (e.g. each seed's final evaluation return) [S], or normalised scores of S seeds
    on E environments [S, E] -> {"mean": m, "mean_ci": [low, high], "median": ..., "median_ci": ...,
    "iqm": ..., "iqm_ci": ...}. Across environments the mean and IQM are over all runs of all
    environments, the median is the median of the environments' mean scores (rliable's definitions), and
    the bootstrap resamples seeds within each environment."""
    require_rliable()
    matrix = np.asarray(scores, dtype=np.float64)
    matrix = matrix[:, None] if matrix.ndim == 1 else matrix  # [runs, tasks]
    functions = _aggregate_functions(matrix.shape[1])
    points, intervals = _interval_estimates(matrix, lambda x: np.array([f(x) for f in functions.values()]))
    result: dict[str, float | list[float]] = {}
    for index, name in enumerate(functions):
        result[name] = float(points[index])
        result[f"{name}_ci"] = [float(intervals[0, index]), float(intervals[1, index])]
    return result


def performance_profile(scores, thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run-score distribution (Agarwal et al. 2021, section 4.1): for each threshold τ, the fraction of
    runs scoring above τ (averaged over environments for [S, E] scores), with its 95% stratified-bootstrap
    CI. scores [S] or [S, E] -> fraction [T], low [T], high [T]."""
    require_rliable()
    from rliable import library

    matrix = np.asarray(scores, dtype=np.float64)
    matrix = matrix[:, None] if matrix.ndim == 1 else matrix
    with _fixed_bootstrap():
        profiles, intervals = library.create_performance_profile(
            {"run": matrix}, np.asarray(thresholds, dtype=np.float64), reps=BOOTSTRAP_REPS, confidence_interval_size=CONFIDENCE
        )
    return profiles["run"], intervals["run"][0], intervals["run"][1]


def curve_estimate(values: np.ndarray, name: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Learning curves of S seeds at common steps, values [S, T] -> the mean (or median, or IQM) across seeds
    [T] and its 95% bootstrap CI (low [T], high [T])."""
    require_rliable()
    statistic = _aggregate_functions()[name]
    matrix = np.asarray(values, dtype=np.float64)[:, None, :]  # [runs, 1 task, T]
    points, intervals = _interval_estimates(matrix, lambda x: np.array([statistic(x[..., t]) for t in range(x.shape[-1])]))
    return points, intervals[0], intervals[1]


def probability_of_improvement(scores_x: Sequence[float], scores_y: Sequence[float]) -> dict[str, float | list[float]]:
    """P(X > Y): the probability that a run of configuration X scores above a run of Y (Mann-Whitney U
    over the pairs, ties counting one half), with its 95% bootstrap CI. One score per seed each."""
    require_rliable()
    from rliable import metrics

    pair = (np.asarray(scores_x, dtype=np.float64)[:, None], np.asarray(scores_y, dtype=np.float64)[:, None])
    point, interval = _interval_estimates(pair, metrics.probability_of_improvement)
    return {"probability": float(np.ravel(point)[0]), "probability_ci": [float(v) for v in np.ravel(interval)]}


def describe(aggregate: dict, name: str = "iqm") -> str:
    """'IQM 487.2 [95% CI 452.0, 500.0]'."""
    low, high = aggregate[f"{name}_ci"]
    return f"{name.upper() if name == 'iqm' else name} {aggregate[name]:.2f} [95% CI {low:.2f}, {high:.2f}]"
