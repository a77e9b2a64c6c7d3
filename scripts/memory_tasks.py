"""Tasks that need memory, 4+ seeds: does a recurrent policy learn where a feed-forward one cannot, and does ours
learn as sb3-contrib's RecurrentPPO does at the same budget and settings (issue 38; docs/memory.md)? Not a timing:
it may share the machine with other runs (speed is benchmarks/recurrent_ppo_vs_sb3_contrib.py).

    python scripts/memory_tasks.py run --out full-runs/memory --jobs 2
    python scripts/memory_tasks.py run --out full-runs/memory --tasks popgym-RepeatPreviousEasy-v0 \
        --variants lstm feed-forward --seeds 0 1 2 3
    python scripts/memory_tasks.py table full-runs/memory

`run`: one process per (task, variant, seed), `--jobs` of them at once, one torch thread each; each writes
OUT/TASK/VARIANT/seed-K.json (final evaluation, steps/s) and is skipped when that file exists, so an interrupted
run continues where it stopped. Every variant trains with the task's `recurrent-ppo` preset (RecurrentPPOConfig:
rl-baselines3-zoo's CartPoleNoVel-v1 set, not tuned for these tasks) and changes only what its name says:
- lstm: the preset (an LSTM of 256 units per network, layer normalisation behind it)
- gru: a GRU instead
- lstm-no-ln: without layer normalisation (sb3-contrib's MlpLstmPolicy has none: the like-for-like peer run)
- feed-forward: no recurrent layer (everything else the same, layer normalisation included)
- a2c-lstm: A2C's own defaults (5 steps per copy, RMSprop 7e-4) on the preset's 8 copies, with the same LSTM and
  layer normalisation; a2c-lstm-4x: the same with 4 times the budget (one gradient step per 40 steps learns
  slower than PPO's 20 epochs)
- sb3-contrib: sb3-contrib's RecurrentPPO, MlpLstmPolicy, the preset's settings (needs the `bench` extra)
Evaluation, the same code for every variant: `--eval-episodes` deterministic episodes (seeds 10,000 + i), the
recurrent state carried through each episode and reset at its start.

`table`: IQM and mean of the seeds' final evaluations with 95% bootstrap CIs (rliable's, as `actorcritic report`),
per task and variant, as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from recurrent_ppo_vs_sb3_contrib import contrib_recurrent_acting  # noqa: E402
from side_by_side import evaluate  # noqa: E402  (the evaluation both libraries share)

TASKS = ("popgym-RepeatPreviousEasy-v0", "popgym-PositionOnlyCartPoleEasy-v0")
VARIANTS = ("lstm", "gru", "lstm-no-ln", "feed-forward", "a2c-lstm", "a2c-lstm-4x", "sb3-contrib")
OVERRIDES = {
    "lstm": {},
    "gru": dict(recurrent="gru"),
    "lstm-no-ln": dict(layer_norm=False),
    "feed-forward": dict(recurrent="none"),
}


def train_ours(task: str, variant: str, seed: int):
    """Our agent for `variant`, trained; returns (act(obs) -> action, start_episode(), steps)."""
    from actorcritic import A2C, A2CConfig, RecurrentPPO, RecurrentPPOConfig

    preset = RecurrentPPOConfig.for_env(task, seed=seed, num_threads=1, eval_every=0, checkpoint_every=0)
    if variant.startswith("a2c-lstm"):
        budget = preset.total_steps * (4 if variant == "a2c-lstm-4x" else 1)
        config = A2CConfig.for_env(task, seed=seed, num_threads=1, eval_every=0, checkpoint_every=0, total_steps=budget)
        agent = A2C(replace(config, num_envs=preset.num_envs, recurrent="lstm", layer_norm=True))
    else:
        agent = RecurrentPPO(replace(preset, **OVERRIDES[variant]))
    agent.learn()
    memory = {"state": None}

    def act(obs):
        if agent.config.recurrent == "none":
            return agent.act(obs)
        action, memory["state"] = agent.act(obs, state=memory["state"])
        return action

    return act, lambda: memory.update(state=None), agent.global_step


def train_sb3_contrib(task: str, seed: int):
    """sb3-contrib's RecurrentPPO with the preset's settings, trained; returns (act, start_episode, steps)."""
    from sb3_contrib import RecurrentPPO as ContribRecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env

    from actorcritic import RecurrentPPOConfig
    from actorcritic.envs.make import check_env_id
    from actorcritic.schedules import parse_schedule

    check_env_id(task)  # imports the package that registers the task
    preset = RecurrentPPOConfig.for_env(task, seed=seed)

    def remaining_progress(value):  # SB3's convention: a callable of the remaining progress, 1 -> 0
        schedule = parse_schedule(str(value))
        return lambda remaining: schedule.at(1.0 - remaining)

    model = ContribRecurrentPPO(
        "MlpLstmPolicy",
        make_vec_env(task, n_envs=preset.num_envs, seed=seed),
        seed=seed,
        device="cpu",
        n_steps=preset.num_steps,
        batch_size=preset.minibatch_size,
        n_epochs=preset.epochs,
        learning_rate=remaining_progress(preset.learning_rate),
        clip_range=remaining_progress(preset.clip_eps),
        gamma=preset.gamma,
        gae_lambda=preset.gae_lambda,
        ent_coef=preset.entropy_coef,
        vf_coef=preset.value_coef / 2,  # ours weighs half the squared error (Eq. 20)
        max_grad_norm=preset.max_grad_norm,
        policy_kwargs=dict(lstm_hidden_size=preset.recurrent_size),
        verbose=0,
    )
    model.learn(total_timesteps=preset.total_steps)
    return (*contrib_recurrent_acting(model), model.num_timesteps)


def run_one(task: str, variant: str, seed: int, eval_episodes: int, path: Path) -> None:
    import torch

    from actorcritic.envs.make import check_env_id

    torch.set_num_threads(1)  # one process per run: more threads per process would oversubscribe the cores
    check_env_id(task)
    started = time.perf_counter()
    if variant == "sb3-contrib":
        act, start_episode, steps = train_sb3_contrib(task, seed)
    else:
        act, start_episode, steps = train_ours(task, variant, seed)
    seconds = time.perf_counter() - started
    score = evaluate(act, task, episodes=eval_episodes, start_episode=start_episode)
    record = dict(task=task, variant=variant, seed=seed, steps=steps, eval_return=score, eval_episodes=eval_episodes)
    record["train_steps_per_second"] = steps / seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(path)  # whole or absent: a killed run leaves no record, and is run again
    print(f"{task} {variant} seed {seed}: {score:.3f} after {steps:,} steps ({seconds:.0f} s)", flush=True)


def run(args: argparse.Namespace) -> None:
    jobs = [
        (task, variant, seed, args.eval_episodes, args.out / task / variant / f"seed-{seed}.json")
        for task in args.tasks
        for variant in args.variants
        for seed in args.seeds
    ]
    jobs = [job for job in jobs if not job[-1].exists()]
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
        for result in [pool.apply_async(run_one, job) for job in jobs]:
            result.get()


def table(args: argparse.Namespace) -> None:
    from actorcritic.analysis.statistics import aggregate_scores

    print("| task | variant | seeds | final evaluations | IQM [95% CI] | mean [95% CI] |")
    print("|---|---|---|---|---|---|")
    for task_dir in sorted(path for path in args.out.iterdir() if path.is_dir()):
        for variant in VARIANTS:
            records = [json.loads(path.read_text()) for path in sorted((task_dir / variant).glob("seed-*.json"))]
            if not records:
                continue
            scores = [record["eval_return"] for record in records]
            stats = aggregate_scores(scores)
            iqm = f"{stats['iqm']:.2f} [{stats['iqm_ci'][0]:.2f}, {stats['iqm_ci'][1]:.2f}]"
            mean = f"{stats['mean']:.2f} [{stats['mean_ci'][0]:.2f}, {stats['mean_ci'][1]:.2f}]"
            listed = ", ".join(f"{score:.2f}" for score in scores)
            print(f"| {task_dir.name} | {variant} | {len(records)} | {listed} | {iqm} | {mean} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train and evaluate the missing (task, variant, seed) runs")
    run_parser.add_argument("--out", type=Path, required=True)
    run_parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    run_parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    run_parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    run_parser.add_argument("--eval-episodes", type=int, default=20)
    run_parser.add_argument("--jobs", type=int, default=2)
    table_parser = commands.add_parser("table", help="the Markdown table of the finished runs")
    table_parser.add_argument("out", type=Path)
    args = parser.parse_args()
    run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    main()
