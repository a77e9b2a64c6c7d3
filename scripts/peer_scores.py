"""Score levels of a peer, Stable-Baselines3 (TD3, SAC) or sb3-contrib (TQC, CrossQ), trained with our settings: tells
our implementation apart from the task and the hyperparameters when our score sits far from a paper's
(docs/experiments.md, "Score levels"; docs/tqc-scores.md). Not a timing: it may share the machine with other runs.

    python scripts/peer_scores.py train td3 Walker2d-v5 --seeds 0 1 2 --total-steps 300000 \
        --out full-runs/peer-td3-walker2d
    python scripts/peer_scores.py compare full-runs/td3-walker2d full-runs/peer-td3-walker2d \
        --figure docs/figures/td3-walker2d-peer.png

`train`: one process per seed (run several beside each other), one torch thread each. Every
`--eval-every` steps: 10 deterministic episodes on a separate environment, as our runs evaluate; each seed
writes OUT/seed-K.csv (step, eval_return_mean, eval_return_std) as it goes, and OUT/seed-K.json at the end.
`--scratch DIR`: each seed saves its state (SB3's model and replay buffer) in DIR/seed-K at every evaluation, and
the same command continues an interrupted seed from there (not an exact resume: see `load_state`); a finished
seed's state is deleted.
SB3's settings are set to ours: (256, 256) networks (SB3's TD3 default is (400, 300)), Adam 3e-4, batch
256, 25k uniformly random steps, τ = 0.005, one update per step, a 1M buffer; TD3's noise 0.1, target
smoothing 0.2 clipped at 0.5, delay 2; SAC's automatic entropy tuning (both libraries' defaults).
TQC (sb3-contrib's): SAC's settings above with `--num-critics` critics of `--n-quantiles` quantiles,
`--top-quantiles-to-drop` dropped per critic (sb3-contrib's defaults 2, 25 and 2; our
`--num-critics/--n-quantiles/--top-quantiles-to-drop` are the same three numbers).
CrossQ (sb3-contrib's): its defaults and ours (`CrossQConfig`): Adam 1e-3 with betas (0.5, 0.999), actor 256-256,
critics `--critic-hidden-sizes` (1024-1024), batch renormalisation of momentum 0.01 and 100k warm-up batches, the
actor every 3rd update, no target networks (no τ), 5,000 random steps (the paper's; sb3-contrib's default is 100).
Needs the `bench` extra (`pip install -e '.[bench]'`).

Goal-conditioned tasks (Gymnasium-Robotics' Fetch, the robotics extra): `--her-goals K` gives SB3's SAC or TD3
(or sb3-contrib's TQC) its HerReplayBuffer (K relabelled goals per transition, the future strategy; the
MultiInputPolicy), and the evaluations also record the success rate (each episode's last `info["is_success"]`,
column eval_success_rate). Each setting above has its option (`--learning-rate`, `--gamma`, `--tau`,
`--batch-size`, `--learning-starts`, `--hidden-sizes`; TQC's three; CrossQ's `--critic-hidden-sizes`,
`--adam-betas`, `--policy-delay`, `--renorm-momentum`, `--renorm-warmup-steps`), which replaces the default where a
comparison runs other settings; an option the algorithm does not take here is refused:

    python scripts/peer_scores.py train sac FetchPush-v4 --her-goals 4 --seeds 0 --total-steps 100000 \
        --eval-every 5000 --eval-episodes 20 --learning-rate 1e-3 --gamma 0.95 --tau 0.05 --learning-starts 1000 \
        --out full-runs/peer-sac-her-fetchpush
    python scripts/peer_scores.py compare full-runs/sac-her-fetchpush full-runs/peer-sac-her-fetchpush \
        --metric eval_success_rate --late 20000

`compare OURS PEER`: every seed of our finished runs in OURS (a run or a sweep directory) against the
peer's seeds: per seed the final evaluation and the late mean (the evaluations of the last `--late` steps, less
noisy than one evaluation), IQM and mean with 95% CIs, P(our run > peer run), and a figure of the curves.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import shutil
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from actorcritic.errors import ActorCriticError

DEFAULTS = dict(
    learning_rate=3e-4, learning_starts=25_000, batch_size=256, tau=0.005, gamma=0.99, hidden_sizes=[256, 256]
)
"""Our settings for TD3 and SAC, given to SB3; `train`'s options of the same names replace them."""
TQC_DEFAULTS = dict(num_critics=2, n_quantiles=25, top_quantiles_to_drop=2)
"""TQC's critics, sb3-contrib's defaults and ours (`TQCConfig`); `train`'s options of the same names replace them."""
CROSSQ_DEFAULTS = dict(
    learning_rate=1e-3, learning_starts=5_000, batch_size=256, gamma=0.99, hidden_sizes=[256, 256],
    critic_hidden_sizes=[1024, 1024], adam_betas=[0.5, 0.999], policy_delay=3, renorm_momentum=0.01,
    renorm_warmup_steps=100_000,
)  # fmt: skip
"""CrossQ's settings, sb3-contrib's defaults and ours (`CrossQConfig`, without its MuJoCo presets' 2048-wide
critics); `train`'s options of the same names replace them."""
LIBRARY = {"td3": "stable-baselines3", "sac": "stable-baselines3", "tqc": "sb3-contrib", "crossq": "sb3-contrib"}


def settings_for(algo: str) -> dict:
    """Our settings for `algo`, given to the peer: CrossQ's own, or DEFAULTS and TQC's critics for tqc."""
    if algo == "crossq":
        return dict(CROSSQ_DEFAULTS)
    return {**DEFAULTS, **(TQC_DEFAULTS if algo == "tqc" else {})}


def evaluate(model, env: gym.Env, episodes: int) -> tuple[list[float], list[bool]]:
    """Returns of `episodes` deterministic episodes of `env`, in its own reset stream, and each episode's last
    `info["is_success"]` where the environment reports one (goal-conditioned tasks)."""
    returns, successes = [], []
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(model.predict(obs, deterministic=True)[0])
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        if "is_success" in info:
            successes.append(bool(info["is_success"]))
    return returns, successes


def build_model(algo: str, env: gym.Env, seed: int, settings: dict, her_goals: int):
    """SB3's TD3 or SAC, or sb3-contrib's TQC or CrossQ, on `env` with `settings` (see the module's docstring)."""
    from stable_baselines3 import SAC, TD3, HerReplayBuffer
    from stable_baselines3.common.noise import NormalActionNoise

    common = dict(
        learning_rate=settings["learning_rate"],
        buffer_size=1_000_000,
        learning_starts=settings["learning_starts"],
        batch_size=settings["batch_size"],
        gamma=settings["gamma"],
        train_freq=1,
        gradient_steps=1,
        policy_kwargs=dict(net_arch=list(settings["hidden_sizes"])),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    if her_goals:
        common.update(
            replay_buffer_class=HerReplayBuffer,
            replay_buffer_kwargs=dict(n_sampled_goal=her_goals, goal_selection_strategy="future"),
        )
    policy = "MultiInputPolicy" if isinstance(env.observation_space, gym.spaces.Dict) else "MlpPolicy"
    if algo == "crossq":
        from sb3_contrib import CrossQ

        common["policy_kwargs"] = dict(
            net_arch=dict(pi=list(settings["hidden_sizes"]), qf=list(settings["critic_hidden_sizes"])),
            batch_norm_momentum=settings["renorm_momentum"],
            renorm_warmup_steps=settings["renorm_warmup_steps"],
            optimizer_kwargs=dict(betas=tuple(settings["adam_betas"])),
        )
        return CrossQ(policy, env, policy_delay=settings["policy_delay"], **common)
    common["tau"] = settings["tau"]
    if algo == "td3":
        half_width = (env.action_space.high - env.action_space.low) / 2
        noise = NormalActionNoise(np.zeros_like(half_width), 0.1 * half_width)
        return TD3(
            policy, env, action_noise=noise, policy_delay=2, target_policy_noise=0.2, target_noise_clip=0.5, **common
        )
    if algo == "tqc":
        from sb3_contrib import TQC

        common["policy_kwargs"].update(n_critics=settings["num_critics"], n_quantiles=settings["n_quantiles"])
        return TQC(policy, env, top_quantiles_to_drop_per_net=settings["top_quantiles_to_drop"], **common)
    return SAC(policy, env, **common)


def model_class(algo: str) -> type:
    from stable_baselines3 import SAC, TD3

    if LIBRARY[algo] == "sb3-contrib":
        import sb3_contrib

        return {"tqc": sb3_contrib.TQC, "crossq": sb3_contrib.CrossQ}[algo]
    return {"td3": TD3, "sac": SAC}[algo]


def save_state(model, scratch: Path, run: dict, rows: list[tuple], wall_seconds: float) -> None:
    """The peer's state at an evaluation step, in `scratch`: its model (SB3's own zip: weights, optimisers,
    counters) and replay buffer in a directory of that step, then state.json naming it, written last and
    atomically, so an interruption at any point leaves the previous state whole. The files are SB3's pickles:
    scratch holds our own runs only, never anything read from elsewhere, and actorcritic never reads them."""
    step = model.num_timesteps
    directory = scratch / f"step-{step}"
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.zip")
    model.save_replay_buffer(directory / "replay_buffer.pkl")
    state = {"run": run, "step": step, "rows": rows, "wall_seconds": wall_seconds}
    temporary = scratch / "state.json.tmp"
    temporary.write_text(json.dumps(state) + "\n")
    temporary.replace(scratch / "state.json")
    for older in scratch.glob("step-*"):
        if older != directory:
            shutil.rmtree(older)


def load_state(scratch: Path, run: dict, env: gym.Env, eval_env: gym.Env):
    """An interrupted run's saved model (weights, optimisers, counters, replay buffer) and evaluation rows, or None
    where `scratch` holds none. Not an exact resume, unlike ours: the episode in progress when it stopped is lost
    (a new one starts) and the random streams restart from the seed and the step, as SB3 saves neither."""
    path = scratch / "state.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if state["run"] != run:
        raise ActorCriticError(f"{scratch} holds another run's state ({state['run']}): delete it or use another")
    step = state["step"]
    model = model_class(run["algo"]).load(scratch / f"step-{step}" / "model.zip", env=env, device="cpu")
    # HER's buffer marks an episode cut by the save as ended (SB3 warns of it): right, as a new episode starts
    model.load_replay_buffer(scratch / f"step-{step}" / "replay_buffer.pkl")
    model.set_random_seed(run["seed"] + step)
    model._last_obs = None  # SB3 saved the interrupted episode's observation: make `learn` start a new episode
    eval_env.reset(seed=run["seed"] + 10_000 + step)
    return model, [tuple(row) for row in state["rows"]], state["wall_seconds"]


def check_peer_run(algo: str, total_steps: int, eval_every: int, her_goals: int) -> None:
    """A run `train_one_seed` can make, or a one-line error: at least one evaluation, HER where the peer has it."""
    if total_steps < eval_every:
        raise ActorCriticError(
            f"--total-steps {total_steps} is below --eval-every {eval_every}: no evaluation to report"
        )
    if her_goals and algo == "crossq":
        raise ActorCriticError("sb3-contrib's CrossQ has no policy for Dict observations: leave out --her-goals")


def train_one_seed(
    algo: str,
    env_id: str,
    seed: int,
    total_steps: int,
    eval_every: int,
    eval_episodes: int,
    out: Path,
    settings: dict | None = None,
    her_goals: int = 0,
    scratch: Path | None = None,
) -> dict:
    """One seed of the peer, its evaluations in OUT/seed-K.csv as it goes and its result in OUT/seed-K.json.
    With `scratch`, its state is saved there at every evaluation and an interrupted run continues from it."""
    from stable_baselines3.common.callbacks import BaseCallback

    from actorcritic.envs.make import check_env_id

    check_peer_run(algo, total_steps, eval_every, her_goals)
    torch.set_num_threads(1)  # one process per seed: more threads per process would oversubscribe the cores
    check_env_id(env_id)  # registers a plugin's ids (gymnasium-robotics' Fetch tasks) as our runs do
    settings = {**settings_for(algo), **(settings or {})}
    run = dict(algo=algo, env=env_id, seed=seed, total_steps=total_steps, eval_every=eval_every)
    run.update(eval_episodes=eval_episodes, settings=settings, her_goals=her_goals)
    run = json.loads(json.dumps(run))  # as state.json holds it (lists for tuples), to compare with it
    env = gym.make(env_id)
    eval_env = gym.make(env_id)
    eval_env.reset(seed=seed + 10_000)  # an evaluation stream of its own, apart from training's
    saved = load_state(scratch, run, env, eval_env) if scratch is not None else None
    model, rows, wall_before = saved or (build_model(algo, env, seed, settings, her_goals), [], 0.0)
    resumed_from = model.num_timesteps
    csv_path = out / f"seed-{seed}.csv"
    start = time.perf_counter()

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                returns, successes = evaluate(model, eval_env, eval_episodes)
                success = (float(np.mean(successes)),) if successes else ()
                rows.append((self.num_timesteps, float(np.mean(returns)), float(np.std(returns)), *success))
                with open(csv_path, "w", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(
                        ["step", "eval_return_mean", "eval_return_std", *(["eval_success_rate"] * len(success))]
                    )
                    writer.writerows(rows)
                said = f", success {success[0]:.2f}" if success else ""
                print(
                    f"{algo} {env_id} seed {seed}: step {self.num_timesteps:,d} eval {rows[-1][1]:.1f}{said}",
                    flush=True,
                )
            return True

        def _on_rollout_start(self) -> None:
            # SB3 stores a step's transition after _on_step and updates after the rollout: saved here, before the
            # next step, the state holds both
            step = self.num_timesteps
            if scratch is not None and step % eval_every == 0 and resumed_from < step < total_steps:
                save_state(model, scratch, run, rows, wall_before + time.perf_counter() - start)

    model.learn(total_timesteps=total_steps - resumed_from, callback=Evaluate(), reset_num_timesteps=False)
    result = {
        "algo": algo,
        "env": env_id,
        "seed": seed,
        "total_steps": total_steps,
        "final_eval_return": rows[-1][1],
        **({"final_eval_success_rate": rows[-1][3]} if len(rows[-1]) > 3 else {}),
        "settings": settings,
        "her_goals": her_goals,
        "wall_seconds": round(wall_before + time.perf_counter() - start),
        "resumed_from_step": resumed_from,
        "library": LIBRARY[algo],
    }
    (out / f"seed-{seed}.json").write_text(json.dumps(result, indent=2) + "\n")
    if scratch is not None and scratch.exists():  # none where the run was no longer than one evaluation interval
        shutil.rmtree(scratch)  # the state of a finished run serves nothing (about 200 MB for a 1M buffer)
    return result


def our_curves(directory: Path, metric: str = "eval_return_mean") -> list[dict[int, float]]:
    """Every seed of the finished runs in `directory` (a run or a sweep) -> one {step: `metric`} each."""
    from actorcritic.analysis.reading import read_run
    from actorcritic.analysis.reports import collect_runs

    return [dict(points) for run in collect_runs([directory]) for points in read_run(run)[1][metric].values()]


def peer_curves(directory: Path, metric: str = "eval_return_mean") -> list[dict[int, float]]:
    """Every seed-K.csv of a `train` --out -> one {step: `metric`} each."""
    curves = []
    for path in sorted(directory.glob("seed-*.csv")):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows and metric not in rows[0]:
            raise ActorCriticError(f"{path} has no {metric} column: its task reports no success (--metric)")
        curves.append({int(row["step"]): float(row[metric]) for row in rows})
    if not curves:
        raise ActorCriticError(f"no seed-K.csv under {directory}: give the --out of `peer_scores.py train`")
    return curves


def peer_name(directory: Path) -> str:
    """The peer library that wrote a `train` --out, from its seed-K.json files (SB3 where there are none yet: a
    run in progress)."""
    libraries = {json.loads(path.read_text()).get("library") for path in directory.glob("seed-*.json")}
    if len(libraries) > 1:
        raise ActorCriticError(f"{directory} holds runs of {' and '.join(sorted(libraries))}: one library per --out")
    library = libraries.pop() if libraries else "stable-baselines3"
    return "SB3" if library == "stable-baselines3" else library


def compare(
    ours_dir: Path, peer_dir: Path, late_steps: int, figure: Path | None, metric: str = "eval_return_mean"
) -> None:
    from actorcritic.analysis.plots import save_figure, seed_band, steps_axis
    from actorcritic.analysis.reading import PANELS
    from actorcritic.analysis.statistics import (
        aggregate_scores,
        describe,
        probability_of_improvement,
    )
    from actorcritic.config import check_positive_int
    from actorcritic.storage.files import check_writable_file

    check_positive_int("late", late_steps)
    if figure is not None:
        check_writable_file(figure, "--figure")  # before the reading and the printing, not after
    peer = peer_name(peer_dir)
    groups = {"actorcritic": our_curves(ours_dir, metric), peer: peer_curves(peer_dir, metric)}
    if not all(groups.values()):
        raise ActorCriticError(f"{ours_dir} has no {metric} values: its task reports no success (--metric)")
    digits = 2 if metric == "eval_success_rate" else 0
    last = min(max(curve) for curves in groups.values() for curve in curves)  # the longest horizon every seed reached
    scores = {}
    for name, curves in groups.items():
        final = [curve[last] for curve in curves]
        late = [
            float(np.mean([value for step, value in curve.items() if last - late_steps < step <= last]))
            for curve in curves
        ]
        scores[name] = late
        print(f"{name}, {len(curves)} seeds, at {last:,d} steps")
        print(
            f"  final evaluation per seed: {', '.join(f'{x:,.{digits}f}' for x in final)}; "
            f"{describe(aggregate_scores(final))}, {describe(aggregate_scores(final), 'mean')}"
        )
        print(
            f"  late mean (last {late_steps:,d} steps) per seed: {', '.join(f'{x:,.{digits}f}' for x in late)}; "
            f"{describe(aggregate_scores(late))}, {describe(aggregate_scores(late), 'mean')}"
        )
    improvement = probability_of_improvement(scores["actorcritic"], scores[peer])
    low, high = improvement["probability_ci"]
    print(
        f"P(actorcritic run > {peer} run), late means: {improvement['probability']:.2f} [95% CI {low:.2f}, {high:.2f}]"
    )
    if figure is not None:
        import matplotlib.pyplot as plt

        fig, axis = plt.subplots(figsize=(7, 4))
        for (name, curves), color in zip(groups.items(), ("tab:blue", "tab:orange")):
            for curve in curves:
                steps = sorted(curve)
                axis.plot(steps, [curve[step] for step in steps], color=color, alpha=0.25, linewidth=0.8)
            steps, mean, low, high = seed_band(dict(enumerate(sorted(curve.items()) for curve in curves)))
            axis.plot(steps, mean, color=color, label=f"{name} ({len(curves)} seeds): mean, 95% CI")
            axis.fill_between(steps, low, high, color=color, alpha=0.2)
        steps_axis(axis)
        axis.set_ylabel(dict(PANELS)[metric])
        axis.legend(loc="upper left")
        fig.tight_layout()
        save_figure(fig, figure)
        print(f"wrote {figure}")


SETTING_TYPES = dict(
    learning_rate=float, gamma=float, tau=float, batch_size=int, learning_starts=int, hidden_sizes=int,
    num_critics=int, n_quantiles=int, top_quantiles_to_drop=int, critic_hidden_sizes=int, adam_betas=float,
    policy_delay=int, renorm_momentum=float, renorm_warmup_steps=int,
)  # fmt: skip
"""`train`'s setting options (a list's element type for the sizes and the betas)."""
PAIR = {"adam_betas": dict(nargs=2, metavar=("BETA1", "BETA2"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train SB3 or sb3-contrib with our settings")
    train.add_argument("algo", choices=sorted(LIBRARY))
    train.add_argument("env")
    train.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    train.add_argument("--total-steps", type=int, default=300_000)
    train.add_argument("--eval-every", type=int, default=10_000)
    train.add_argument("--eval-episodes", type=int, default=10)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--scratch", type=Path, help="saves each seed's state there; an interrupted seed continues")
    train.add_argument("--her-goals", type=int, default=0, help="SB3's HerReplayBuffer with K future goals (0: none)")
    # the settings: each algorithm's own where not given (`settings_for`), refused where it has no such setting
    for name, kind in SETTING_TYPES.items():
        many = dict(nargs="+") if name in ("hidden_sizes", "critic_hidden_sizes") else {}
        train.add_argument(f"--{name.replace('_', '-')}", type=kind, **many, **PAIR.get(name, {}))
    versus = commands.add_parser("compare", help="our runs against the peer's")
    versus.add_argument("ours", type=Path)
    versus.add_argument("peer", type=Path)
    versus.add_argument(
        "--late", type=int, default=60_000, help="the late mean covers the evaluations of these last steps"
    )
    versus.add_argument("--figure", type=Path)
    versus.add_argument("--metric", choices=["eval_return_mean", "eval_success_rate"], default="eval_return_mean")
    args = parser.parse_args()
    try:
        if args.command == "compare":
            compare(args.ours, args.peer, args.late, args.figure, args.metric)
        else:
            train_seeds(args)
    except ActorCriticError as error:
        print(f"peer_scores.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def train_seeds(args: argparse.Namespace) -> None:
    """`train`: the settings checked before anything is written, then one process per seed."""
    settings = settings_for(args.algo)
    given = {name for name in SETTING_TYPES if getattr(args, name) is not None}
    if given - set(settings):
        names = ", ".join(f"--{name.replace('_', '-')}" for name in sorted(given - set(settings)))
        takes = ", ".join(f"--{name.replace('_', '-')}" for name in settings)
        raise ActorCriticError(f"train {args.algo} takes no {names} (it takes {takes})")
    check_peer_run(args.algo, args.total_steps, args.eval_every, args.her_goals)
    settings.update({name: getattr(args, name) for name in given})
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (
            args.algo,
            args.env,
            seed,
            args.total_steps,
            args.eval_every,
            args.eval_episodes,
            args.out,
            settings,
            args.her_goals,
            args.scratch / f"seed-{seed}" if args.scratch else None,
        )
        for seed in args.seeds
    ]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.starmap(train_one_seed, jobs)
    finals = [r.get("final_eval_success_rate", r["final_eval_return"]) for r in results]
    print(
        f"{args.algo} {args.env}, {args.total_steps:,d} steps, "
        f"final evaluation per seed ({'success rate' if 'final_eval_success_rate' in results[0] else 'return'}): "
        f"{', '.join(f'{x:,.2f}' for x in finals)}"
    )


if __name__ == "__main__":
    main()
