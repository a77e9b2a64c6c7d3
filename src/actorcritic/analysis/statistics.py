"""Statistics across seeds, as the field reports them (Agarwal et al. 2021, "Deep RL at the edge of the
statistical precipice"): the mean, the median and the interquartile mean (IQM, the mean of the middle 50% of
runs), each with a 95% stratified-bootstrap confidence interval, with rliable's definitions.

The bootstrap is computed here, all replications at once, rather than by rliable, which calls the statistic
once per replication (2,000 Python calls, and a SciPy Mann-Whitney test each for the probability of
improvement: seconds per interval). The resamples are rliable's own, drawn from the same generator state in
the same order, so the intervals equal rliable's (tests/test_reports.py checks them against rliable), and
the same scores always give the same intervals, in any process."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

BOOTSTRAP_REPS = 2000
"""Bootstrap replications: the CI bounds of 8 seeds move by under 1% of the IQM between 2,000 and 50,000."""
CONFIDENCE = 0.95

# Each statistic maps scores [..., runs, environments] to [...]: the leading axes are bootstrap
# replications (and, for learning curves, evaluation steps).


def mean_score(scores: np.ndarray) -> np.ndarray:
    """The mean over environments of each environment's mean over runs."""
    return scores.mean(axis=-2).mean(axis=-1)


def median_score(scores: np.ndarray) -> np.ndarray:
    """On one environment the median run; across environments the median of the environments' mean
    scores (rliable's aggregate_median, which on one environment would be the mean)."""
    if scores.shape[-1] > 1:
        return np.median(scores.mean(axis=-2), axis=-1)
    return np.median(scores[..., 0], axis=-1)


def interquartile_mean(scores: np.ndarray) -> np.ndarray:
    """The mean of the middle 50% of all runs of all environments (the 25% trimmed mean: a quarter of the
    runs, rounded down, cut at each end, as scipy.stats.trim_mean)."""
    runs = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)
    cut = int(0.25 * runs.shape[-1])
    return runs[..., cut : runs.shape[-1] - cut].mean(axis=-1)


STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": mean_score,
    "median": median_score,
    "iqm": interquartile_mean,
}


def stratified_resamples(samples: Sequence[np.ndarray], reps: int = BOOTSTRAP_REPS) -> list[np.ndarray]:
    """Each array of scores [runs, environments, ...] -> its bootstrap resamples [reps, runs, environments,
    ...]: every entry is a run drawn with replacement among the runs of its own environment (and column),
    independently for each array. The draws are rliable's (StratifiedBootstrap and
    StratifiedIndependentBootstrap): a generator seeded 0, replication by replication, array by array."""
    generator = np.random.RandomState(0)
    indices = [np.empty((reps, *array.shape), dtype=np.int64) for array in samples]
    for rep in range(reps):
        for array, index in zip(samples, indices):
            index[rep] = generator.randint(0, array.shape[0], size=array.shape)
    return [
        np.take_along_axis(np.broadcast_to(array, index.shape), index, axis=1) for array, index in zip(samples, indices)
    ]


def percentile_interval(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95% percentile-bootstrap interval of a statistic from its replications [reps, ...]."""
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return low, high


def _as_matrix(scores) -> np.ndarray:
    matrix = np.asarray(scores, dtype=np.float64)
    return matrix[:, None] if matrix.ndim == 1 else matrix  # [runs, environments]


def aggregate_scores(scores) -> dict[str, float | list[float]]:
    """One score per seed (e.g. each seed's final evaluation return) [S], or normalised scores of S seeds
    on E environments [S, E] -> {"mean": m, "mean_ci": [low, high], "median": ..., "median_ci": ...,
    "iqm": ..., "iqm_ci": ...}. Across environments the mean and IQM are over all runs of all
    environments, the median is the median of the environments' mean scores (rliable's definitions), and
    the bootstrap resamples seeds within each environment."""
    matrix = _as_matrix(scores)
    (resamples,) = stratified_resamples([matrix])
    result: dict[str, float | list[float]] = {}
    for name, statistic in STATISTICS.items():
        low, high = percentile_interval(statistic(resamples))
        result[name] = float(statistic(matrix))
        result[f"{name}_ci"] = [float(low), float(high)]
    return result


def performance_profile(scores, thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run-score distribution (Agarwal et al. 2021, section 4.1): for each threshold τ, the fraction of
    runs scoring above τ (over all runs of all environments for [S, E] scores), with its 95%
    stratified-bootstrap CI. scores [S] or [S, E] -> fraction [T], low [T], high [T]."""
    matrix = _as_matrix(scores)
    taus = np.asarray(thresholds, dtype=np.float64)

    def fraction_above(runs: np.ndarray) -> np.ndarray:  # [..., S, E] -> [..., T]
        return (runs[..., None] > taus).mean(axis=(-3, -2))

    (resamples,) = stratified_resamples([matrix])
    return (fraction_above(matrix), *percentile_interval(fraction_above(resamples)))


def curve_estimate(values: np.ndarray, name: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Learning curves of S seeds at common steps, values [S, T] -> the mean (or median, or IQM) across seeds
    [T] and its 95% bootstrap CI (low [T], high [T]), seeds resampled at each step independently."""
    statistic = STATISTICS[name]
    matrix = np.asarray(values, dtype=np.float64)[:, None, :]  # [S, 1 environment, T]
    (resamples,) = stratified_resamples([matrix])

    def at_each_step(runs: np.ndarray) -> np.ndarray:  # [..., S, 1, T] -> [..., T]
        return statistic(np.moveaxis(runs, -1, -3))

    return (at_each_step(matrix), *percentile_interval(at_each_step(resamples)))


def improvement_probability(scores_x: np.ndarray, scores_y: np.ndarray) -> np.ndarray:
    """P(X > Y) averaged over environments, scores [..., runs, environments] each: the fraction of pairs
    of runs (one of X, one of Y) in which X's scores higher, ties counting one half (the Mann-Whitney U
    statistic over the number of pairs)."""
    x, y = scores_x[..., :, None, :], scores_y[..., None, :, :]
    wins = (x > y).sum(axis=(-3, -2)) + 0.5 * (x == y).sum(axis=(-3, -2))
    return (wins / (scores_x.shape[-2] * scores_y.shape[-2])).mean(axis=-1)


def probability_of_improvement(scores_x: Sequence[float], scores_y: Sequence[float]) -> dict[str, float | list[float]]:
    """P(X > Y): the probability that a run of configuration X scores above a run of Y (Mann-Whitney U
    over the pairs, ties counting one half), with its 95% bootstrap CI, X's and Y's seeds resampled
    independently. One score per seed each."""
    x, y = _as_matrix(scores_x), _as_matrix(scores_y)
    low, high = percentile_interval(improvement_probability(*stratified_resamples([x, y])))
    return {"probability": float(improvement_probability(x, y)), "probability_ci": [float(low), float(high)]}


def describe(aggregate: dict, name: str = "iqm") -> str:
    """'IQM 487.2 [95% CI 452.0, 500.0]'."""
    low, high = aggregate[f"{name}_ci"]
    return f"{name.upper() if name == 'iqm' else name} {aggregate[name]:.2f} [95% CI {low:.2f}, {high:.2f}]"
