"""SAC: the tanh-Gaussian actor inside the action box, the temperature fitted or fixed, the actor's delay."""

import torch

from actorcritic import SAC, SACConfig

TINY = dict(
    env="Pendulum-v1",
    total_steps=200,
    learning_starts=50,
    batch_size=16,
    hidden_sizes=(16,),
    log_every=50,
    eval_episodes=1,
    num_threads=1,
    buffer_size=500,
)


def test_exploration_and_evaluation_actions_stay_inside_the_action_box():
    agent = SAC(SACConfig(**TINY))
    obs = torch.randn(64, 3) * 5
    explored = agent.learner.explore(obs, torch.Generator().manual_seed(0))
    assert explored.abs().max() <= 2.0 and agent.learner.act(obs).abs().max() <= 2.0
    assert not torch.equal(explored, agent.learner.explore(obs, torch.Generator().manual_seed(1)))


def test_alpha_moves_when_autotuned_and_stays_when_fixed():
    tuned = SAC(SACConfig(**TINY)).learn()
    fixed = SAC(SACConfig(**TINY, autotune_alpha=False, initial_alpha=0.3)).learn()
    assert tuned.learner.temperature.log_alpha.item() != 0.0
    assert torch.isclose(fixed.learner.temperature.log_alpha.exp(), torch.tensor(0.3))


def test_policy_delay_updates_the_actor_every_d_critic_updates():
    agent = SAC(SACConfig(**TINY, policy_delay=3))
    learner = agent.learner
    agent.learn(60)  # fills the buffer with 60 transitions
    generator = torch.Generator().manual_seed(0)
    changes = []
    for index in range(1, 7):
        before = learner.actor_flat.parameter.detach().clone()
        info = learner.update(agent.buffer.sample(16, generator), index, generator)
        changes.append((not torch.equal(before, learner.actor_flat.parameter), "actor_loss" in info))
    assert changes == [(False, False), (False, False), (True, True)] * 2
