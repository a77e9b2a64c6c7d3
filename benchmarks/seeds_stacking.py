"""Would stacking seeds into one batched network make several seeds faster? A TD3-sized update (critic
input 23, 256-256 ReLU, twin critics, batch 256, actor every second update, Adam, Polyak averaging) for S
seeds stacked along the member dimension of `StackedMLP` (one `baddbmm` per layer for all seeds), in fp32
and under bf16 autocast, against the same update for one seed.

    .venv/bin/python benchmarks/seeds_stacking.py [--threads 2] [--updates 200]

Reported: ms per update and ms per seed-update for S = 1, 2, 4, 8, and whether a seed's outputs are
bit-identical whatever S is (`baddbmm` of one member takes another kernel than of several in fp32)."""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn

from actorcritic.core.optim import FlatParameters, polyak_update
from actorcritic.nets.mlp import StackedMLP

OBS, ACTIONS, BATCH, HIDDEN = 17, 6, 256, (256, 256)


def stacked_update(seeds: int, bf16: bool):
    """A function running one TD3-style update of `seeds` stacked agents."""
    critic = StackedMLP(2 * seeds, OBS + ACTIONS, HIDDEN, 1, activation=nn.ReLU)
    actor = StackedMLP(seeds, OBS, HIDDEN, ACTIONS, activation=nn.ReLU)
    critic_target, actor_target = copy.deepcopy(critic), copy.deepcopy(actor)
    flats = [FlatParameters(m) for m in (critic, actor, critic_target, actor_target)]
    critic_optimizer = torch.optim.Adam([flats[0].parameter], lr=3e-4, fused=True)
    actor_optimizer = torch.optim.Adam([flats[1].parameter], lr=3e-4, fused=True)
    obs, next_obs = torch.randn(seeds, BATCH, OBS), torch.randn(seeds, BATCH, OBS)
    actions, rewards = torch.rand(seeds, BATCH, ACTIONS), torch.randn(seeds, BATCH)

    def q(net, o, a, **kwargs):  # both critics of every seed: [S, 2, B]
        return net(torch.cat([o, a], -1).repeat_interleave(2, dim=0), **kwargs).view(seeds, 2, BATCH)

    def update(index: int) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                target = (
                    rewards
                    + 0.99 * q(critic_target, next_obs, torch.tanh(actor_target(next_obs))).float().min(1).values
                )
            loss = (q(critic, obs, actions).float() - target[:, None]).square().mean(-1).sum()
        critic_optimizer.zero_grad()
        loss.backward()
        critic_optimizer.step()
        if index % 2 == 0:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                actor_loss = -q(critic, obs, torch.tanh(actor(obs)), detach_weights=True).float()[:, 0].mean(-1).sum()
            actor_optimizer.zero_grad()
            actor_loss.backward()
            actor_optimizer.step()
            polyak_update(flats[2], flats[0], 0.005)
            polyak_update(flats[3], flats[1], 0.005)

    return update


def same_outputs_whatever_s(bf16: bool) -> bool:
    torch.manual_seed(0)
    net, x = StackedMLP(8, OBS, HIDDEN, 1, activation=nn.ReLU), torch.randn(8, BATCH, OBS)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        full = net(x)[0]
        for seeds in (1, 2, 4):
            small = copy.deepcopy(net)
            for parameter in (*small.weights, *small.biases):
                parameter.data = parameter.data[:seeds].clone()
            small.members = seeds
            if not torch.equal(small(x[:seeds])[0], full):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'precision':<9} {'S':>2} {'ms/update':>10} {'ms/seed-update':>15} {'vs S=1':>7}")
    for bf16 in (False, True):
        single = None
        for seeds in (1, 2, 4, 8):
            update = stacked_update(seeds, bf16)
            for index in range(20):
                update(index)
            started = time.perf_counter()
            for index in range(args.updates):
                update(index)
            per_update = (time.perf_counter() - started) / args.updates * 1e3
            single = single or per_update
            print(
                f"{'bf16' if bf16 else 'fp32':<9} {seeds:>2} {per_update:>10.2f} {per_update / seeds:>15.2f} "
                f"{single / (per_update / seeds):>6.2f}x",
                flush=True,
            )
    for bf16 in (False, True):
        print(
            f"{'bf16' if bf16 else 'fp32'}: a seed's outputs identical for S = 1, 2, 4 and 8: "
            f"{same_outputs_whatever_s(bf16)}"
        )


if __name__ == "__main__":
    main()
