"""Running statistics, observation normalisation and reward scaling."""


import numpy as np
import pytest

from actorcritic.normalization import RunningMeanStd


def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 5, 17, 2)]
    stats = RunningMeanStd((4,))
    for batch in batches:
        stats.update(batch)
    everything = np.concatenate(batches)
    assert np.allclose(stats.mean, everything.mean(0), atol=1e-4)
    assert np.allclose(stats.var, everything.var(0), atol=1e-3)



@pytest.mark.parametrize("shape", [(3,), ()])
def test_running_mean_std_shapes(shape):
    stats = RunningMeanStd(shape)
    stats.update(np.ones((4, *shape)))
    assert stats.mean.shape == shape

