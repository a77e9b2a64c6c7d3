"""Run directories: train, resume and evaluate an agent, whatever its algorithm.

A run directory holds

    config.json       the full config, with the algorithm's name under "algo"
    metrics.csv       one row per logging window (global_step, episode_return_mean, steps_per_second, losses, ...)
    tensorboard/      the same metrics as TensorBoard event files
    checkpoint/       the latest checkpoint (safetensors + JSON, see `actorcritic.checkpoint`)
    checkpoint-best/  the policy of the best periodic evaluation so far (with --eval-every), and best.json
    curves.png        episode and evaluation returns against environment steps
    summary.json      written at the end: wall time, speed and the final deterministic evaluation
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from datetime import datetime
from pathlib import Path

from actorcritic.algorithms.grpo import GRPO, GRPOConfig
from actorcritic.algorithms.ppo import PPO, PPOConfig
from actorcritic.algorithms.reinforce import REINFORCE, REINFORCEConfig
from actorcritic.algorithms.sac import SAC, SACConfig
from actorcritic.algorithms.td3 import DDPG, TD3, DDPGConfig, TD3Config
from actorcritic.algorithms.trpo import TRPO, TRPOConfig
from actorcritic.checkpoint import (
    STATE_FILE,
    check_writable_directory,
    describe_os_error,
    write_json_atomic,
)
from actorcritic.config import config_to_dict
from actorcritic.errors import ActorCriticError
from actorcritic.language.grpo import GRPOLM, GRPOLMConfig
from actorcritic.logging import RunLogger
from actorcritic.plots import plot_runs

ALGORITHMS: dict[str, tuple[type, type]] = {
    "ppo": (PPO, PPOConfig),
    "reinforce": (REINFORCE, REINFORCEConfig),
    "trpo": (TRPO, TRPOConfig),
    "grpo": (GRPO, GRPOConfig),
    "td3": (TD3, TD3Config),
    "ddpg": (DDPG, DDPGConfig),
    "sac": (SAC, SACConfig),
    "grpo-lm": (GRPOLM, GRPOLMConfig),
}
"""name -> (agent class, config class)."""

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = "checkpoint"
BEST_CHECKPOINT_DIR = "checkpoint-best"
BEST_FILE = "best.json"
CURVES_FILE = "curves.png"


def algorithm(name: str) -> tuple[type, type]:
    if name not in ALGORITHMS:
        raise ActorCriticError(f"unknown algorithm {name!r}: choose one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


def default_run_dir(algo: str, env: str, seed: int) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{algo}-{env}-seed{seed}-{stamp}"


def train(algo: str, config, run_dir: Path | None = None) -> dict:
    """Train a new agent in a new run directory; return the summary."""
    agent_class, _ = algorithm(algo)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(algo, config.env, config.seed)
    check_new_run_dir(run_dir)
    agent = agent_class(config)  # bad environments or spaces are refused before anything is written
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ActorCriticError(f"cannot create the run directory {run_dir}: {describe_os_error(error)}") from None
    return _learn_and_summarise(agent, run_dir)


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse, before any work, a --run-dir that holds a run, is a file, lies below a file, loops through
    symbolic links or cannot be written."""
    if (run_dir / CONFIG_FILE).exists() or (run_dir / CHECKPOINT_DIR).exists():
        raise ActorCriticError(f"{run_dir} already holds a run: continue it with `actorcritic resume {run_dir}` or choose another --run-dir")
    check_writable_directory(run_dir, "--run-dir")


def resume(run_dir: Path, total_steps: int | None = None) -> dict:
    """Continue a run from its checkpoint (to `total_steps`, default: the run's own total)."""
    run_dir = Path(run_dir)
    agent = load_agent(run_dir, **({} if total_steps is None else {"total_steps": total_steps}))
    if agent.global_step >= agent.config.total_steps:
        raise ActorCriticError(
            f"{run_dir} has already reached {agent.global_step} of its {agent.config.total_steps} steps: pass a larger --total-steps"
        )
    if not os.access(run_dir, os.W_OK | os.X_OK) or not os.access(run_dir / CHECKPOINT_DIR, os.W_OK | os.X_OK):
        raise ActorCriticError(f"{run_dir} is not writable: a resumed run writes its checkpoint and logs there")
    return _learn_and_summarise(agent, run_dir)


def evaluate(run_dir: Path, episodes: int | None = None, seed: int | None = None, best: bool = False,
             video_dir: Path | None = None) -> dict:
    """Evaluate the deterministic policy of a run's checkpoint (or, with `best`, of its best evaluation) on
    fresh episodes; with `video_dir`, record each episode there as mp4."""
    agent = load_agent(Path(run_dir), best=best)
    if video_dir is not None:
        if agent.algo == "grpo-lm":
            raise ActorCriticError("--video records control environments; grpo-lm has no frames to record")
        returns = agent.evaluate(episodes, seed, video_dir=video_dir)
    else:
        returns = agent.evaluate(episodes, seed)
    return {"algo": agent.algo, "env": agent.config.env, "global_step": agent.global_step, **_return_stats(returns)}


def load_agent(run_dir: Path, best: bool = False, **config_overrides):
    """The agent saved in `run_dir/checkpoint` (with `best`: `run_dir/checkpoint-best`), of whichever
    algorithm wrote it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ActorCriticError(f"run directory {run_dir} does not exist: pass the --run-dir of an earlier `actorcritic train`")
    checkpoint_dir = BEST_CHECKPOINT_DIR if best else CHECKPOINT_DIR
    if best and not (run_dir / BEST_CHECKPOINT_DIR).exists():
        raise ActorCriticError(f"{run_dir} has no {BEST_CHECKPOINT_DIR}/: it is written by runs trained with --eval-every STEPS")
    state_path = run_dir / checkpoint_dir / STATE_FILE
    previous_state = run_dir / (checkpoint_dir + ".prev") / STATE_FILE
    path = state_path if state_path.exists() else previous_state
    try:
        algo = json.loads(path.read_text())["algo"]
    except FileNotFoundError:
        raise ActorCriticError(f"no checkpoint in {run_dir}: it has no {CHECKPOINT_DIR}/{STATE_FILE} (was the run stopped before its first checkpoint?)") from None
    except PermissionError:
        raise ActorCriticError(f"cannot read {path}: permission denied (run as a user who can read the run directory)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ActorCriticError(f"corrupt checkpoint: {path} is not a valid actorcritic state file ({error!s:.80})") from None
    agent_class, _ = algorithm(algo)
    return agent_class.load(run_dir / checkpoint_dir, **config_overrides)


class RunDirectory:
    """The callback that ties training to a run directory: each metrics row to metrics.csv and TensorBoard,
    each checkpoint event to checkpoint/, each evaluation that beats the best so far to checkpoint-best/."""

    def __init__(self, run_dir: Path, logger: RunLogger):
        self.run_dir = Path(run_dir)
        self.logger = logger
        best_file = self.run_dir / BEST_FILE
        self.best_return = json.loads(best_file.read_text())["eval_return_mean"] if best_file.exists() else -math.inf

    def on_log(self, agent, metrics: dict[str, float]) -> None:
        self.logger.log(metrics)

    def on_evaluation(self, agent, metrics: dict[str, float]) -> None:
        if metrics["eval_return_mean"] > self.best_return:
            self.best_return = metrics["eval_return_mean"]
            agent.save(self.run_dir / BEST_CHECKPOINT_DIR, policy_only=True)
            write_json_atomic(self.run_dir / BEST_FILE, {"eval_return_mean": self.best_return, "global_step": agent.global_step})

    def on_checkpoint(self, agent) -> None:
        agent.save(self.run_dir / CHECKPOINT_DIR)


def _learn_and_summarise(agent, run_dir: Path) -> dict:
    """Open the logs, then (only once training can start) write config.json, train, save, evaluate, and
    write summary.json and curves.png."""
    logger = RunLogger(run_dir, agent.config.total_steps, agent.global_step)
    try:
        write_json_atomic(run_dir / CONFIG_FILE, {"algo": agent.algo, **config_to_dict(agent.config)})
    except ActorCriticError:
        logger.close()
        raise
    start_step = agent.global_step
    started = time.perf_counter()
    try:
        agent.learn(callbacks=[RunDirectory(run_dir, logger)])
    finally:
        logger.close()
    wall_time = time.perf_counter() - started
    agent.save(run_dir / CHECKPOINT_DIR)
    returns = agent.evaluate()
    summary = {
        "algo": agent.algo,
        "env": agent.config.env,
        "seed": agent.config.seed,
        "total_steps": agent.global_step,
        "resumed_from_step": start_step,
        "wall_time_s": round(wall_time, 3),
        "steps_per_second": round((agent.global_step - start_step) / wall_time, 1),
        **_return_stats(returns),
        **(agent.extra_summary() if hasattr(agent, "extra_summary") else {}),  # e.g. grpo-lm's accuracies
        "run_dir": str(run_dir),
    }
    write_json_atomic(run_dir / SUMMARY_FILE, summary)
    plot_runs([run_dir], run_dir / CURVES_FILE)
    return summary


def _return_stats(returns: list[float]) -> dict:
    return {
        "eval_episodes": len(returns),
        "eval_return_mean": statistics.fmean(returns),
        "eval_return_std": statistics.pstdev(returns),
        "eval_returns": returns,
    }
