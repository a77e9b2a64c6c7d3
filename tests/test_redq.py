"""REDQ as a configuration of SAC's learner: the in-target minimum over a random subset of the ensemble, by hand."""

import pytest
import torch

from actorcritic import REDQ, REDQConfig
from actorcritic.algorithms.sac import SACLearner, ensemble_minimum
from actorcritic.errors import ActorCriticError


def test_the_target_minimum_runs_over_the_drawn_subset_only():
    q = torch.tensor([[5.0, 1.0], [2.0, 7.0], [9.0, 3.0], [4.0, 8.0]])  # 4 critics, a batch of 2
    generator = torch.Generator().manual_seed(3)
    drawn = torch.randperm(4, generator=torch.Generator().manual_seed(3))[:2].tolist()
    expected = [min(q[i, b].item() for i in drawn) for b in range(2)]
    assert ensemble_minimum(q, 2, generator).tolist() == expected
    assert ensemble_minimum(q, None, generator).tolist() == [2.0, 1.0]  # all members: SAC's clipped double Q
    assert ensemble_minimum(q, 4, generator).tolist() == [2.0, 1.0]


def test_a_subset_of_one_is_that_critic_and_the_draws_change_between_updates():
    q = torch.arange(12.0).reshape(4, 3)  # critic i's values are 3i, 3i + 1, 3i + 2
    generator = torch.Generator().manual_seed(0)
    picked = {int(ensemble_minimum(q, 1, generator)[0].item()) // 3 for _ in range(40)}
    assert picked == {0, 1, 2, 3}


def test_redq_is_sacs_learner_with_the_papers_settings():
    config = REDQConfig(env="Pendulum-v1", total_steps=6_000)
    assert REDQ.learner_class is SACLearner
    assert (config.num_critics, config.target_critics, config.actor_q, config.updates_per_step) == (10, 2, "mean", 20)
    agent = REDQ(config)
    assert agent.learner.critics.members == 10
    with pytest.raises(ActorCriticError, match="target_critics"):
        REDQConfig(env="Pendulum-v1", total_steps=6_000, target_critics=11)


def test_actor_q_changes_the_actors_update_and_nothing_else():
    """Two learners alike but for actor_q (mean: REDQ; min: SAC) on one batch: the first update moves the critics
    alike (their target does not read actor_q); the actors then part."""
    import dataclasses

    config = REDQConfig(env="Pendulum-v1", total_steps=300, learning_starts=50, batch_size=8, hidden_sizes=(8,),
                        num_critics=3, updates_per_step=1, policy_delay=1, num_threads=1)  # fmt: skip
    agent = REDQ(config).learn(60)
    batch = agent.buffer.sample(8, agent.generator)
    learners = []
    for actor_q in ("mean", "min"):
        learner = SACLearner(
            dataclasses.replace(config, actor_q=actor_q),
            agent.observation_space,
            agent.action_space,
            torch.device("cpu"),
        )
        for name, module in learner.modules().items():
            module.load_state_dict(agent.learner.modules()[name].state_dict())
        learners.append((learner, torch.Generator().manual_seed(7)))
    (mean, mean_draws), (minimum, minimum_draws) = learners
    mean.update(batch, 1, mean_draws)
    minimum.update(batch, 1, minimum_draws)
    assert torch.equal(mean.critics.flat.parameter, minimum.critics.flat.parameter)  # the targets ignore actor_q
    for index in (2, 3):  # Adam's first step is ±lr whatever the gradient's size: the actors part after it
        mean.update(batch, index, mean_draws)
        minimum.update(batch, index, minimum_draws)
    assert not torch.equal(mean.actor_flat.parameter, minimum.actor_flat.parameter)
