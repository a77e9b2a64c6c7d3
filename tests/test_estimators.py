"""Estimators against hand-computed cases, the lecture's identities, and plain loop references."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actorcritic.core.estimators import (
    discounted_returns,
    gae,
    group_relative_advantages,
    k_step_advantages,
    normalize,
    td_residuals,
    variance_minimizing_baseline,
)


def column(*xs):
    return torch.tensor(xs, dtype=torch.float64).unsqueeze(1)


# ---------------------------------------------------------------- loop references (one transition at a time)


def segment_end(t, terminated, truncated):
    """Index of the last step of the segment that contains step t (termination, truncation or rollout end)."""
    horizon = len(terminated)
    end = t
    while end < horizon - 1 and not terminated[end] and not truncated[end]:
        end += 1
    return end


def reference_k_step(r, v, nv, term, trunc, gamma, k):
    """Â^(k) for one actor, literally as Eqs. 25-28 read, with the boundary rules of section 2."""
    horizon = len(r)
    out = []
    for t in range(horizon):
        end = segment_end(t, term, trunc)
        steps = end - t + 1 if k is None else min(k, end - t + 1)
        last = t + steps - 1
        total = sum(gamma**i * r[t + i] for i in range(steps))
        total += gamma**steps * (0.0 if term[last] else nv[last])
        out.append(total - v[t])
    return out


def reference_gae(r, v, nv, term, trunc, gamma, lam):
    """Eq. 32 as a forward sum of discounted TD residuals up to the segment's end."""
    horizon = len(r)
    deltas = [r[t] + gamma * (0.0 if term[t] else nv[t]) - v[t] for t in range(horizon)]
    out = []
    for t in range(horizon):
        end = segment_end(t, term, trunc)
        out.append(sum((gamma * lam) ** (j - t) * deltas[j] for j in range(t, end + 1)))
    return out


@st.composite
def rollouts(draw):
    horizon = draw(st.integers(1, 12))
    actors = draw(st.integers(1, 3))
    floats = st.floats(-5, 5, allow_nan=False)
    shape = (horizon, actors)

    def tensor(elements):
        return torch.tensor(
            draw(st.lists(elements, min_size=horizon * actors, max_size=horizon * actors)), dtype=torch.float64
        ).reshape(shape)

    terminated = tensor(st.booleans()).bool()
    truncated = tensor(st.booleans()).bool() & ~terminated
    values = tensor(floats)
    # Within an episode the successor's value is the next step's value; at a truncation or the rollout's
    # end it is V of an observation that is not in the rollout (free here).
    next_values = tensor(floats)
    continues = ~(terminated | truncated)[:-1]
    next_values[:-1] = torch.where(continues, values[1:], next_values[:-1])
    return dict(
        rewards=tensor(floats),
        values=values,
        next_values=next_values,
        terminated=terminated,
        truncated=truncated,
        gamma=draw(st.floats(0.0, 1.0)),
    )


def per_actor(fn, batch, **extra):
    cols = []
    for n in range(batch["rewards"].shape[1]):
        cols.append(
            fn(
                batch["rewards"][:, n].tolist(),
                batch["values"][:, n].tolist(),
                batch["next_values"][:, n].tolist(),
                batch["terminated"][:, n].tolist(),
                batch["truncated"][:, n].tolist(),
                batch["gamma"],
                **extra,
            )
        )
    return torch.tensor(cols, dtype=torch.float64).T


# ---------------------------------------------------------------- hand-computed cases


def test_td_residuals_hand_computed():
    r, v, nv = column(1.0, 2.0), column(0.5, 1.0), column(1.0, 3.0)
    term = column(0, 1).bool()
    # δ_0 = 1 + 0.9·1 - 0.5 = 1.4; δ_1 = 2 + 0 - 1 = 1 (terminated: no bootstrap)
    assert torch.allclose(td_residuals(r, v, nv, term, 0.9), column(1.4, 1.0))


def test_gae_hand_computed_three_steps():
    r, v, nv = column(1.0, 1.0, 1.0), column(0.0, 0.0, 0.0), column(0.0, 0.0, 10.0)
    none = column(0, 0, 0).bool()
    gamma, lam = 0.5, 0.5
    # δ = (1, 1, 1 + 0.5·10 = 6); A_2 = 6, A_1 = 1 + 0.25·6 = 2.5, A_0 = 1 + 0.25·2.5 = 1.625
    assert torch.allclose(gae(r, v, nv, none, none, gamma, lam), column(1.625, 2.5, 6.0))


def test_gae_stops_at_truncation_and_bootstraps_from_final_observation():
    r, v = column(1.0, 1.0, 1.0), column(0.0, 0.0, 0.0)
    nv = column(0.0, 4.0, 0.0)  # V(final observation) = 4 at the truncated step 1
    term, trunc = column(0, 0, 0).bool(), column(0, 1, 0).bool()
    adv = gae(r, v, nv, term, trunc, 1.0, 1.0)
    # step 1: 1 + 4 = 5; step 0: 1 + 0 + 5 = 6; step 2 starts a new episode: 1
    assert torch.allclose(adv, column(6.0, 5.0, 1.0))


def test_discounted_returns_hand_computed():
    r = column(1.0, 2.0, 3.0, 4.0)
    nv = column(9.0, 9.0, 9.0, 10.0)
    term, trunc = column(0, 1, 0, 0).bool(), column(0, 0, 0, 0).bool()
    # episode 1 terminated at step 1: R_1 = 2, R_0 = 1 + 0.5·2 = 2
    # episode 2 runs to the rollout end and bootstraps: R_3 = 4 + 0.5·10 = 9, R_2 = 3 + 0.5·9 = 7.5
    assert torch.allclose(discounted_returns(r, nv, term, trunc, 0.5), column(2.0, 2.0, 7.5, 9.0))


def test_k_step_hand_computed():
    r, v = column(1.0, 2.0, 3.0), column(0.5, 0.5, 0.5)
    nv = column(10.0, 20.0, 30.0)
    none = column(0, 0, 0).bool()
    adv = k_step_advantages(r, v, nv, none, none, 0.5, 2)
    # Â_0 = 1 + 0.5·2 + 0.25·20 - 0.5 = 6.5; Â_1 = 2 + 0.5·3 + 0.25·30 - 0.5 = 10.5; Â_2 = 3 + 0.5·30 - 0.5 = 17.5
    assert torch.allclose(adv, column(6.5, 10.5, 17.5))


def test_k_step_rejects_k_below_one():
    x = column(1.0)
    with pytest.raises(ValueError, match="k = 0"):
        k_step_advantages(x, x, x, x.bool(), x.bool(), 0.9, 0)


def test_group_relative_advantages_hand_computed():
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)
    adv = group_relative_advantages(rewards)
    assert torch.allclose(
        adv[0], torch.tensor([0.5, -0.5, 0.5, -0.5], dtype=torch.float64) / (0.5 + 1e-4)
    )  # population std 0.5
    assert torch.equal(adv[1], torch.zeros(4, dtype=torch.float64))  # all equal rewards: no signal, no NaN
    assert torch.allclose(
        group_relative_advantages(rewards, scale=False)[0], torch.tensor([0.5, -0.5, 0.5, -0.5], dtype=torch.float64)
    )


def test_normalize():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = normalize(x)
    assert abs(y.mean().item()) < 1e-12 and abs(y.std().item() - 1.0) < 1e-6


def test_variance_minimizing_baseline_hand_computed():
    w = torch.tensor([1.0, 3.0])
    returns = torch.tensor([10.0, 2.0])
    assert math.isclose(variance_minimizing_baseline(w, returns).item(), (10 + 6) / 4)
    batched = variance_minimizing_baseline(torch.stack([w, w], 1), torch.stack([returns, returns], 1), dim=0)
    assert batched.shape == (2,)


def test_variance_minimizing_baseline_minimises_the_variance_on_a_bandit():
    """Eq. 15-18 exactly on a softmax bandit: b* gives the smallest trace of Var[∇log π (r - b)]."""
    logits = torch.tensor([0.3, -0.2, 1.0])
    rewards = torch.tensor([1.0, 0.7, 0.0])
    probs = torch.softmax(logits, 0)
    scores = torch.eye(3) - probs  # ∇θ log π(a) = e_a - π for a softmax
    sq_norms = (scores**2).sum(1)
    b_star = (probs * sq_norms * rewards).sum() / (probs * sq_norms).sum()
    assert torch.isclose(variance_minimizing_baseline(probs * sq_norms, rewards), b_star)

    def total_variance(b):
        g = scores * (rewards - b).unsqueeze(1)
        mean = (probs.unsqueeze(1) * g).sum(0)
        return (probs * ((g - mean) ** 2).sum(1)).sum()

    for delta in (-0.5, -0.1, 0.1, 0.5):
        assert total_variance(b_star) < total_variance(b_star + delta)


# ---------------------------------------------------------------- the lecture's identities


@settings(max_examples=60, deadline=None)
@given(rollouts())
def test_gae_lambda_zero_is_the_td_residual(batch):  # Eq. 33
    b = batch
    expected = td_residuals(b["rewards"], b["values"], b["next_values"], b["terminated"], b["gamma"])
    got = gae(b["rewards"], b["values"], b["next_values"], b["terminated"], b["truncated"], b["gamma"], 0.0)
    assert torch.allclose(got, expected)


@settings(max_examples=60, deadline=None)
@given(rollouts())
def test_gae_lambda_one_is_monte_carlo_minus_value(batch):  # Eq. 34
    b = batch
    returns = discounted_returns(b["rewards"], b["next_values"], b["terminated"], b["truncated"], b["gamma"])
    got = gae(b["rewards"], b["values"], b["next_values"], b["terminated"], b["truncated"], b["gamma"], 1.0)
    assert torch.allclose(got, returns - b["values"], atol=1e-9)
    mc = k_step_advantages(
        b["rewards"], b["values"], b["next_values"], b["terminated"], b["truncated"], b["gamma"], None
    )
    assert torch.allclose(mc, returns - b["values"], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(rollouts(), st.floats(0.0, 1.0))
def test_gae_is_the_geometric_mixture_of_k_step_estimators(batch, lam):  # Eq. 29
    """Inside a segment of h remaining steps: (1-λ) Σ_{k<h} λ^{k-1} Â^(k) + λ^{h-1} Â^(h)."""
    b = batch
    args = (b["rewards"], b["values"], b["next_values"], b["terminated"], b["truncated"], b["gamma"])
    horizon = b["rewards"].shape[0]
    k_step = [k_step_advantages(*args, k) for k in range(1, horizon + 1)]
    mixture = torch.zeros_like(b["rewards"])
    for n in range(b["rewards"].shape[1]):
        term, trunc = b["terminated"][:, n].tolist(), b["truncated"][:, n].tolist()
        for t in range(horizon):
            remaining = segment_end(t, term, trunc) - t + 1
            weights = [(1 - lam) * lam ** (k - 1) for k in range(1, remaining)] + [lam ** (remaining - 1)]
            mixture[t, n] = sum(w * k_step[k][t, n] for k, w in enumerate(weights))
    assert torch.allclose(gae(*args, lam), mixture, atol=1e-8)


# ---------------------------------------------------------------- vectorised vs loop reference


@settings(max_examples=80, deadline=None)
@given(rollouts(), st.floats(0.0, 1.0))
def test_gae_matches_loop_reference(batch, lam):
    b = batch
    got = gae(b["rewards"], b["values"], b["next_values"], b["terminated"], b["truncated"], b["gamma"], lam)
    assert torch.allclose(got, per_actor(reference_gae, b, lam=lam), atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(rollouts(), st.one_of(st.none(), st.integers(1, 15)))
def test_k_step_matches_loop_reference(batch, k):
    b = batch
    got = k_step_advantages(b["rewards"], b["values"], b["next_values"], b["terminated"], b["truncated"], b["gamma"], k)
    assert torch.allclose(got, per_actor(reference_k_step, b, k=k), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(2, 8), st.data())
def test_group_relative_advantages_have_zero_mean_and_unit_std(groups, size, data):
    values = data.draw(st.lists(st.floats(-10, 10), min_size=groups * size, max_size=groups * size))
    rewards = torch.tensor(values, dtype=torch.float64).reshape(groups, size)
    adv = group_relative_advantages(rewards, eps=0.0) if (rewards.std(-1, correction=0) > 1e-3).all() else None
    if adv is not None:
        assert torch.allclose(adv.mean(-1), torch.zeros(groups, dtype=torch.float64), atol=1e-9)
        assert torch.allclose(adv.std(-1, correction=0), torch.ones(groups, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(
        group_relative_advantages(rewards, scale=False).mean(-1), torch.zeros(groups, dtype=torch.float64), atol=1e-9
    )


@pytest.mark.parametrize(
    "estimator",
    [
        lambda r, v, nv, te, tr: td_residuals(r, v, nv, te, 0.9),
        lambda r, v, nv, te, tr: gae(r, v, nv, te, tr, 0.9, 0.95),
        lambda r, v, nv, te, tr: discounted_returns(r, nv, te, tr, 0.9),
        lambda r, v, nv, te, tr: k_step_advantages(r, v, nv, te, tr, 0.9, 3),
        lambda r, v, nv, te, tr: k_step_advantages(r, v, nv, te, tr, 0.9, None),
    ],
)
@pytest.mark.parametrize("misalign", ["transposed", "column", "one step short", "three dimensions"])
def test_misaligned_inputs_raise_instead_of_broadcasting(estimator, misalign):
    steps, actors = 6, 3
    r, v, nv = torch.randn(steps, actors), torch.randn(steps, actors), torch.randn(steps, actors)
    te, tr = torch.zeros(steps, actors, dtype=torch.bool), torch.zeros(steps, actors, dtype=torch.bool)
    estimator(r, v, nv, te, tr)  # aligned: fine
    if misalign == "transposed":
        nv = nv.T.contiguous()
    elif misalign == "column":
        nv = nv[:, :1]
    elif misalign == "one step short":
        r = r[:-1]
    else:
        r, v, nv, te, tr = (x.unsqueeze(-1) for x in (r, v, nv, te, tr))
    with pytest.raises(ValueError, match=r"expected time-major \[T, N\]"):
        estimator(r, v, nv, te, tr)
