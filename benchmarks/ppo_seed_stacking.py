"""Would PPO with S seeds be faster with the seeds stacked into one network? A probe for the seeds issue.

Today a multi-seed PPO run steps S independent agents in lockstep: S rollouts, then S updates, each update
K epochs of minibatch gradient steps on one seed's `ActorCritic` (policy and value: the two members of a
`StackedMLP`). Stacked, the S seeds' policies and values would be the 2S members of one `StackedMLP`: one
`baddbmm` per layer, one backward and one fused Adam step for all seeds per minibatch, with each seed's
own minibatch, loss and gradient-norm clip (the loss is the sum of the seeds' losses, so each seed's
parameters receive exactly its own loss's gradient).

    .venv/bin/python benchmarks/ppo_seed_stacking.py [--threads 1] [--steps 200]

Measured, for the CartPole-v1 and HalfCheetah-v5 settings of `PPOConfig.for_env`: the rollout time of one
seed (the real engine), ms per gradient step for S separate models against S stacked, whether a seed's
parameters after the stacked steps are bit-identical whatever S is, and the projected multi-seed speed
(S rollouts + the update's gradient steps) relative to S=1.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from side_by_side import timed

from actorcritic.algorithms.ppo import PPO, PPOConfig
from actorcritic.core.distributions import gaussian_log_prob
from actorcritic.core.losses import clipped_surrogate
from actorcritic.core.optim import FlatParameters, gradient_step
from actorcritic.nets.actor_critic import ActorCritic
from actorcritic.nets.mlp import StackedMLP


def separate_models(seeds: int, obs_dim: int, actions: int, discrete: bool):
    models = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = ActorCritic(obs_dim, (64, 64), **(dict(num_actions=actions) if discrete else dict(action_dim=actions)))
        flat = FlatParameters(model)
        models.append((model, flat, torch.optim.Adam([flat.parameter], lr=3e-4, eps=1e-5, fused=True)))
    return models


def separate_step(models, batch) -> None:
    obs, acts, old_log_probs, adv, ret = batch
    for k, (model, flat, optimizer) in enumerate(models):
        log_probs, _, values = model.evaluate_actions(obs[k], acts[k])
        policy_loss, _ = clipped_surrogate(log_probs, old_log_probs[k], adv[k], 0.2)
        loss = policy_loss + 0.5 * 0.5 * (values - ret[k]).pow(2).mean()
        gradient_step(loss, optimizer, flat, 0.5)


class Stacked:
    """S seeds' policy and value networks as the 2S members of one StackedMLP (seed k: members 2k, 2k+1)."""

    def __init__(self, seeds: int, obs_dim: int, actions: int, discrete: bool):
        torch.manual_seed(0)
        self.seeds, self.discrete = seeds, discrete
        self.body = StackedMLP(
            2 * seeds, obs_dim, (64, 64), actions, output_gains=(0.01, 1.0) * seeds, output_widths=(actions, 1) * seeds
        )
        self.log_std = None if discrete else torch.nn.Parameter(torch.zeros(seeds, 1, actions))
        modules = [self.body] + ([] if discrete else [torch.nn.ParameterList([self.log_std])])
        self.flat = FlatParameters(*modules)
        self.optimizer = torch.optim.Adam([self.flat.parameter], lr=3e-4, eps=1e-5, fused=True)
        self.grads = [p.grad for p in self.body.parameters()] + ([] if discrete else [self.log_std.grad])

    def step(self, batch) -> None:
        obs, acts, old_log_probs, adv, ret = batch  # [S, B, ...] each
        out = self.body(obs.repeat_interleave(2, dim=0))  # [2S, B, width]
        policy_out, values = out[0::2], out[1::2, :, 0]
        if self.discrete:
            log_probs = torch.log_softmax(policy_out, -1).gather(-1, acts.unsqueeze(-1)).squeeze(-1)
        else:
            log_probs = gaussian_log_prob(policy_out, self.log_std, acts)
        ratio = (log_probs - old_log_probs).exp()
        objective = torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv)
        per_seed = -objective.mean(1) + 0.25 * (values - ret).pow(2).mean(1)  # [S]
        self.flat.zero_grad()
        per_seed.sum().backward()  # seeds share no parameter: each gets its own loss's gradient
        squares = sum(g.pow(2).flatten(1).sum(1).view(self.seeds, -1).sum(1) for g in self.grads)  # [S]
        scale = (0.5 / (squares.sqrt() + 1e-6)).clamp(max=1.0)
        for g in self.grads:  # each seed's gradient clipped to its own norm
            g.mul_(scale.repeat_interleave(g.shape[0] // self.seeds).view(-1, *[1] * (g.dim() - 1)))
        self.optimizer.step()

    def seed_parameters(self, k: int) -> torch.Tensor:
        return torch.cat([p[2 * k : 2 * k + 2].reshape(-1) for p in self.body.parameters()])


def batch(seeds: int, size: int, obs_dim: int, actions: int, discrete: bool, generator: torch.Generator):
    obs = torch.randn(seeds, size, obs_dim, generator=generator)
    acts = (
        torch.randint(actions, (seeds, size), generator=generator)
        if discrete
        else torch.randn(seeds, size, actions, generator=generator)
    )
    return (
        obs,
        acts,
        -torch.rand(seeds, size, generator=generator),
        torch.randn(seeds, size, generator=generator),
        torch.randn(seeds, size, generator=generator),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for env in ("CartPole-v1", "HalfCheetah-v5"):
        config = PPOConfig.for_env(env, total_steps=10**6, num_threads=args.threads, checkpoint_every=0)
        agent = PPO(config)
        discrete = agent.actions.discrete
        obs_dim, actions = (
            int(agent.observation_space.shape[0]),
            int(agent.action_space.n if discrete else agent.action_space.shape[0]),
        )
        agent._reset_envs()
        rollouts = max(1, 16384 // (config.num_envs * config.num_steps))
        started = time.perf_counter()
        for _ in range(rollouts):
            agent.collector.collect()
        rollout_s = (time.perf_counter() - started) / rollouts
        transitions = config.num_envs * config.num_steps
        steps_per_update = config.epochs * math.ceil(transitions / config.minibatch_size)
        print(
            f"\n{env}: rollout of {transitions} transitions {rollout_s * 1000:.1f} ms; "
            f"update = {steps_per_update} gradient steps of minibatch {config.minibatch_size}"
        )
        print(
            "| S | separate ms/step | stacked ms/step | stacked / separate "
            "| projected seed-steps/s vs S=1 (separate) | (stacked) |"
        )
        print("|---|---|---|---|---|---|")
        base = None
        generator = torch.Generator().manual_seed(0)
        for seeds in (1, 2, 4, 8):
            data = batch(seeds, config.minibatch_size, obs_dim, actions, discrete, generator)
            models = separate_models(seeds, obs_dim, actions, discrete)
            stacked = Stacked(seeds, obs_dim, actions, discrete)
            separate_ms = timed(lambda: separate_step(models, data), args.steps, warmup=1)
            stacked_ms = timed(lambda: stacked.step(data), args.steps, warmup=1)
            per_update = {
                name: seeds * rollout_s + steps_per_update * ms / 1000
                for name, ms in (("separate", separate_ms), ("stacked", stacked_ms))
            }
            speed = {name: seeds * transitions / seconds for name, seconds in per_update.items()}
            base = base or speed["separate"]
            print(
                f"| {seeds} | {separate_ms:.3f} | {stacked_ms:.3f} | {stacked_ms / separate_ms:.2f} "
                f"| {speed['separate'] / base:.2f}x | {speed['stacked'] / base:.2f}x |"
            )
        # does a seed's trajectory depend on how many seeds share the stack?
        trajectories = {}
        for seeds in (1, 3, 8):
            stacked = Stacked(seeds, obs_dim, actions, discrete)
            with torch.no_grad():  # seed 0 starts from the same parameters in every stack
                for p, reference in zip(
                    stacked.body.parameters(), Stacked(1, obs_dim, actions, discrete).body.parameters()
                ):
                    p[:2] = reference
            steps = torch.Generator().manual_seed(1)
            for _ in range(20):
                one = batch(1, config.minibatch_size, obs_dim, actions, discrete, steps)
                rest = (
                    batch(seeds - 1, config.minibatch_size, obs_dim, actions, discrete, generator)
                    if seeds > 1
                    else None
                )
                stacked.step([torch.cat([a, b]) if rest else a for a, b in zip(one, rest or one)])
            trajectories[seeds] = stacked.seed_parameters(0)
        same = all(torch.equal(trajectories[1], t) for t in trajectories.values())
        print(
            f"seed 0 after 20 stacked steps, S = 1, 3, 8: {'bit-identical' if same else 'DIFFERENT'} "
            f"(max difference {max((trajectories[1] - t).abs().max().item() for t in trajectories.values()):.2e})"
        )


if __name__ == "__main__":
    main()
