"""Recurrent PPO side by side with sb3-contrib's RecurrentPPO: same machine, same task, same settings.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/recurrent_ppo_vs_sb3_contrib.py                 # 100k steps, seed 0
    .venv/bin/python benchmarks/recurrent_ppo_vs_sb3_contrib.py --steps 20000 --seeds 0 1

Each (library, seed) runs in its own process with the same torch thread count (1, the default; 2 cores are then
one per process, never shared). Reported: training steps/s (wall time of `learn`, evaluation excluded), the
ratio actorcritic / sb3-contrib, and the deterministic evaluation return over 10 episodes after training, the
state carried through each episode and reset at its start (the same evaluation code for both).

Task: CartPole-v1 without its velocities (`actorcritic.envs.memory:CartPoleNoVel-v1`, observation [x, θ], the
same wrapper for both libraries), where a feed-forward policy cannot balance the pole.
Settings (rl-baselines3-zoo's hyperparams/ppo_lstm.yml for CartPoleNoVel-v1, and sb3-contrib's MlpLstmPolicy
defaults): 8 envs x 32 steps, one minibatch of 256 steps (8 whole sequences), 20 epochs, learning rate and clip
range linear from 1e-3 and 0.2 to 0, γ 0.98, λ 0.8, no entropy bonus, value coefficient 0.5 on the squared error
(ours: 1.0 on half of it), gradient-norm clip 0.5, advantages normalised per minibatch, an LSTM of 256 units
for the policy and another for the value, then 64-64 tanh MLPs, no observation or reward normalisation.
"""

from __future__ import annotations

import time

from side_by_side import evaluate, main_with_seeds, phase_milliseconds

ENV = "actorcritic.envs.memory:CartPoleNoVel-v1"
SETTINGS = dict(num_envs=8, num_steps=32, minibatch_size=256, epochs=20, gamma=0.98, gae_lambda=0.8, lstm=256)


def run_actorcritic(steps: int, seed: int, threads: int) -> dict:
    from actorcritic import RecurrentPPO, RecurrentPPOConfig

    config = RecurrentPPOConfig.for_env(
        ENV,
        seed=seed,
        total_steps=steps,
        num_threads=threads,
        recurrent_size=SETTINGS["lstm"],
        eval_every=0,
        layer_norm=False,  # sb3-contrib's MlpLstmPolicy has none: the same networks on both sides
    )
    assert (config.num_envs, config.num_steps, config.minibatch_size, config.epochs) == (8, 32, 256, 20)
    agent = RecurrentPPO(config)
    started = time.perf_counter()
    agent.learn()
    elapsed = time.perf_counter() - started
    memory = {"state": None}

    def act(obs):
        action, memory["state"] = agent.act(obs, state=memory["state"])
        return action

    return {
        "steps_per_second": agent.global_step / elapsed,
        "steps": agent.global_step,
        "eval_return": evaluate(act, ENV, start_episode=lambda: memory.update(state=None)),
        "phases_ms": phase_milliseconds({}, agent.clock.seconds, agent.global_step),
    }


def run_sb3_contrib(steps: int, seed: int, threads: int) -> dict:
    import torch
    from sb3_contrib import RecurrentPPO as ContribRecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env

    import actorcritic.envs.memory  # noqa: F401  (registers the task)

    torch.set_num_threads(threads)
    envs = make_vec_env(ENV, n_envs=SETTINGS["num_envs"], seed=seed)

    def linear(start: float):
        return lambda remaining: start * remaining

    model = ContribRecurrentPPO(
        "MlpLstmPolicy",
        envs,
        seed=seed,
        device="cpu",
        n_steps=SETTINGS["num_steps"],
        batch_size=SETTINGS["minibatch_size"],
        n_epochs=SETTINGS["epochs"],
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        gamma=SETTINGS["gamma"],
        gae_lambda=SETTINGS["gae_lambda"],
        ent_coef=0.0,
        vf_coef=0.5,
        max_grad_norm=0.5,
        policy_kwargs=dict(lstm_hidden_size=SETTINGS["lstm"]),
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - started
    act, start_episode = contrib_recurrent_acting(model)
    return {
        "steps_per_second": model.num_timesteps / elapsed,
        "steps": model.num_timesteps,
        "eval_return": evaluate(act, ENV, start_episode=start_episode),
    }


def contrib_recurrent_acting(model):
    """(act(obs) -> action, start_episode()) of an sb3-contrib recurrent model for `evaluate`: the deterministic
    action, the state carried through an episode as RecurrentPPO.predict takes it and reset at its start."""
    import numpy as np

    memory = {"state": None, "start": np.ones(1, dtype=bool)}

    def act(obs):
        action, memory["state"] = model.predict(
            obs, state=memory["state"], episode_start=memory["start"], deterministic=True
        )
        memory["start"] = np.zeros(1, dtype=bool)
        return action

    return act, lambda: memory.update(state=None, start=np.ones(1, dtype=bool))


if __name__ == "__main__":
    main_with_seeds(
        __doc__, __file__, "cartpole-novel", {"sb3_contrib": run_sb3_contrib, "actorcritic": run_actorcritic}, 100_000
    )
