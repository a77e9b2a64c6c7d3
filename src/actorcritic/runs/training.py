"""Run directories: train, resume and evaluate an agent, whatever its algorithm. What a run directory holds,
for one seed or several, is written once, in `actorcritic.storage.layout`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Iterable

from actorcritic.algorithms.engine import resolve_device
from actorcritic.algorithms.precision import check_precision
from actorcritic.algorithms.registry import algorithm
from actorcritic.analysis.plots import plot_runs
from actorcritic.analysis.statistics import aggregate_scores
from actorcritic.config import AgentConfig, config_from_dict, config_to_dict
from actorcritic.errors import ActorCriticError
from actorcritic.runs.metrics import RunLogger
from actorcritic.runs.seeds import (
    SeedGroup,
    make_agent,
    read_seed_order,
    seed_subdirectory,
    write_seed_order,
)
from actorcritic.storage.checkpoint import SEED_ORDER_FILE, STATE_FILE, readable_checkpoint
from actorcritic.storage.files import (
    check_writable_directory,
    make_directory,
    write_json_atomic,
)
from actorcritic.storage.layout import (
    BEST_CHECKPOINT_DIR,
    BEST_FILE,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CURVES_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
)


def default_run_dir(algo: str, env: str, seeds: list[int]) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if len(seeds) == 1:
        which = f"seed{seeds[0]}"
    else:
        which = "seeds" + ("-".join(map(str, seeds)) if len(seeds) <= 4 else f"{seeds[0]}-to-{seeds[-1]}-x{len(seeds)}")
    return Path("runs") / f"{algo}-{env.replace('/', '-')}-{which}-{stamp}"


def seeds_of(config) -> list[int]:
    return list(getattr(config, "seeds", ()) or [config.seed])


def train(algo: str, config, run_dir: Path | None = None, callbacks: Iterable = ()) -> dict:
    """Train a new agent (or, with several `seeds`, a `SeedGroup`) in a new run directory; return the
    summary. `callbacks` get the training events after the run directory has handled them."""
    agent_class = algorithm(algo).agent_class
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(algo, config.env, seeds_of(config))
    check_new_run_dir(run_dir)
    agent = make_agent(agent_class, config)  # bad environments or spaces are refused before anything is written
    refuse_emulated_bf16(agent.config)
    created = not run_dir.exists()
    make_directory(run_dir, "the run directory")
    with removed_if_refused_at_start(run_dir, created):
        return _learn_and_summarise(agent, run_dir, callbacks)


@contextlib.contextmanager
def removed_if_refused_at_start(run_dir: Path, created: bool):
    """Where training is refused before it wrote a metrics row or a checkpoint (an environment that breaks its
    declared spaces at its first step, a NaN reward at step 3), remove what it wrote: the run directory if this
    run `created` it, else its config.json and empty metrics.csv, which would only say that a run exists."""
    try:
        yield
    except ActorCriticError:
        metrics = run_dir / METRICS_FILE
        if not (run_dir / CHECKPOINT_DIR).exists() and not (metrics.exists() and metrics.stat().st_size > 0):
            if created:
                shutil.rmtree(run_dir, ignore_errors=True)
            else:
                for path in (run_dir / CONFIG_FILE, metrics):
                    path.unlink(missing_ok=True)
        raise


def learn(
    agent,
    steps: int | None = None,
    run_dir: str | Path | None = None,
    callbacks: Iterable = (),
    progress_bar: bool | None = None,
    verbose: int = 1,
    tensorboard: bool = True,
) -> dict:
    """`agent.learn(steps)` (an agent or a `SeedGroup`) with what the CLI gives a run: a new run directory
    (default runs/ALGO-ENV-seedK-TIME) with config.json, metrics.csv, TensorBoard events (`tensorboard`),
    checkpoint/ every `checkpoint_every` steps and at the end, checkpoint-best/ at each best evaluation,
    summary.json (evaluated at the end) and curves.png; the progress printed as `verbose` says (0: nothing, 1:
    progress, as a bar with `progress_bar`, by default on a terminal; 2: every metrics row too). Returns the
    summary. Continue such a run with `actorcritic.runs.training.resume(run_dir)` or `actorcritic resume`."""
    if verbose not in (0, 1, 2):
        raise ActorCriticError(f"verbose={verbose!r} is not a level: use 0 (silent), 1 (progress) or 2 (every row)")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ActorCriticError(f"steps={steps!r} is out of range: train at least one environment step")
    run_dir = (
        Path(run_dir) if run_dir is not None else default_run_dir(agent.algo, agent.config.env, seeds_of(agent.config))
    )
    check_new_run_dir(run_dir)
    refuse_emulated_bf16(agent.config)
    created = not run_dir.exists()
    make_directory(run_dir, "the run directory")
    output = dict(verbose=verbose, progress_bar=progress_bar, tensorboard=tensorboard)
    with removed_if_refused_at_start(run_dir, created):
        return _learn_and_summarise(agent, run_dir, callbacks, steps, output)


def refuse_emulated_bf16(config) -> None:
    """`--precision bf16` on a CPU that would emulate it, refused before the run directory is touched (the agent
    checks again when it learns; a trainer without that setting, grpo-lm, has nothing to check)."""
    if isinstance(config, AgentConfig):
        check_precision(config.precision, resolve_device(config.device), config.force_bf16, warn=False)


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse, before any work, a --run-dir that holds a run, is a file, lies below a file, loops through
    symbolic links or cannot be written."""
    check_writable_directory(run_dir, "--run-dir")
    if (run_dir / CONFIG_FILE).exists() or (run_dir / CHECKPOINT_DIR).exists():
        raise ActorCriticError(
            f"{run_dir} already holds a run: continue it with `actorcritic resume {run_dir}` or choose another "
            "--run-dir"
        )


def resume(
    run_dir: Path, total_steps: int | None = None, callbacks: Iterable = (), finish_at_total: bool = False
) -> dict:
    """Continue a run from its checkpoint (to `total_steps`, default: the run's own total). A checkpoint
    already at the total is refused, unless `finish_at_total`: then the run is only evaluated and
    summarised (what a run killed during its final evaluation still owes)."""
    run_dir = Path(run_dir)
    agent = load_agent(
        run_dir, restart_missing_seeds=True, **({} if total_steps is None else {"total_steps": total_steps})
    )
    if agent.global_step >= agent.config.total_steps and not finish_at_total:
        raise ActorCriticError(
            f"{run_dir} has already reached {agent.global_step} of its {agent.config.total_steps} steps: pass a "
            "larger --total-steps"
        )
    refuse_emulated_bf16(agent.config)
    if not os.access(run_dir, os.W_OK | os.X_OK) or not os.access(run_dir / CHECKPOINT_DIR, os.W_OK | os.X_OK):
        raise ActorCriticError(f"{run_dir} is not writable: a resumed run writes its checkpoint and logs there")
    return _learn_and_summarise(agent, run_dir, callbacks)


def train_or_resume(algo: str, config, run_dir: Path, callbacks: Iterable = ()) -> dict:
    """Bring the run in `run_dir` to its end, whatever state it is in: finished (summary.json: left as it
    is), started (a checkpoint: resumed from it; rows logged past it are dropped, so nothing repeats or is
    missed; a checkpoint at the total, killed during the final evaluation, is evaluated and summarised) or
    new (trained; a directory stopped before its first checkpoint has nothing to keep). Returns the summary.
    What a sweep trial and an experiment's run do, so that killing either loses at most the steps since the
    last checkpoint."""
    run_dir = Path(run_dir)
    state = run_state(run_dir)
    if state == "done":
        return json.loads((run_dir / SUMMARY_FILE).read_text())
    if state == "started":
        return resume(run_dir, callbacks=callbacks, finish_at_total=True)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    return train(algo, config, run_dir, callbacks=callbacks)


def run_state(run_dir: Path) -> str:
    """done (summary.json written), started (a checkpoint to resume from) or new."""
    if (Path(run_dir) / SUMMARY_FILE).exists():
        return "done"
    if (Path(run_dir) / CHECKPOINT_DIR).exists():
        return "started"
    return "new"


def evaluate(
    run_dir: Path,
    episodes: int | None = None,
    seed: int | None = None,
    best: bool = False,
    video_dir: Path | None = None,
) -> dict:
    """Evaluate the deterministic policy of a run's checkpoint (or, with `best`, of its best evaluation) on
    fresh episodes; with `video_dir`, record each episode there as mp4."""
    agent = load_agent(Path(run_dir), best=best)
    if video_dir is not None:
        if not agent.records_video:
            raise ActorCriticError(f"--video records control environments; {agent.algo} has no frames to record")
        returns = agent.evaluate(episodes, seed, video_dir=video_dir)
    else:
        returns = agent.evaluate(episodes, seed)
    return {
        "algo": agent.algo,
        "env": agent.config.env,
        "global_step": agent.global_step,
        **_evaluation_stats(agent, returns),
    }


def load_agent(
    run_dir: Path, best: bool = False, seed: int | None = None, restart_missing_seeds: bool = False, **config_overrides
):
    """The agent saved in `run_dir/checkpoint` (with `best`: `run_dir/checkpoint-best`), of whichever
    algorithm wrote it: a `SeedGroup` for a multi-seed run, or with `seed`, that seed's agent alone. With
    `restart_missing_seeds` (resume), a seed of a multi-seed run that never reached its first checkpoint
    (the process died before) starts afresh from the run's config.json instead of being an error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ActorCriticError(
            f"run directory {run_dir} does not exist: pass the --run-dir of an earlier `actorcritic train`"
        )
    directory = run_dir / (BEST_CHECKPOINT_DIR if best else CHECKPOINT_DIR)
    if best and not directory.exists():
        raise ActorCriticError(
            f"{run_dir} has no {BEST_CHECKPOINT_DIR}/: it is written by runs trained with --eval-every STEPS"
        )
    if not (directory / SEED_ORDER_FILE).exists():
        agent = _load_checkpoint(run_dir, directory, config_overrides)
        if seed is not None and seed != agent.config.seed:
            raise ActorCriticError(
                f"{run_dir} is a run of seed {agent.config.seed}, not of seed {seed}: leave out --seed or pass "
                f"{agent.config.seed}"
            )
        return agent
    seeds = read_seed_order(directory)
    if seed is not None:
        if seed not in seeds:
            raise ActorCriticError(
                f"{run_dir} has seeds {' '.join(map(str, seeds))}, not seed {seed}: pass one of them"
            )
        return _load_checkpoint(run_dir, seed_subdirectory(directory, seed), config_overrides)
    agents = [
        _fresh_seed_agent(run_dir, k, config_overrides)
        if restart_missing_seeds and not _has_checkpoint(seed_subdirectory(directory, k))
        else _load_checkpoint(run_dir, seed_subdirectory(directory, k), config_overrides)
        for k in seeds
    ]
    return SeedGroup(type(agents[0]), None, agents=agents)


def _state_file(directory: Path) -> Path:
    """The checkpoint's state.json, or, where a save was cut between its renames, the previous one's."""
    return readable_checkpoint(directory) / STATE_FILE


def _has_checkpoint(directory: Path) -> bool:
    return _state_file(directory).exists()


def _fresh_seed_agent(run_dir: Path, seed: int, config_overrides: dict):
    """Seed `seed` of the multi-seed run in `run_dir`, untrained: built from the run's config.json."""
    try:
        saved = json.loads((run_dir / CONFIG_FILE).read_text())
        registration = algorithm(saved.pop("algo"))
        agent_class, config_class = registration.agent_class, registration.config_class
        config = config_from_dict(config_class, saved)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ActorCriticError(
            f"corrupt run directory: {run_dir / CONFIG_FILE} cannot be read ({error!s:.80})"
        ) from None
    return agent_class(dataclasses.replace(config, seed=seed, seeds=(), **config_overrides))


def _load_checkpoint(run_dir: Path, directory: Path, config_overrides: dict):
    """The single-seed agent whose checkpoint is `directory`, of whichever algorithm wrote it."""
    path = _state_file(directory)
    try:
        algo = json.loads(path.read_text())["algo"]
    except FileNotFoundError:
        where = directory.relative_to(run_dir) if directory.is_relative_to(run_dir) else directory
        raise ActorCriticError(
            f"no checkpoint in {run_dir}: it has no {where}/{STATE_FILE} (was the run stopped before its first "
            "checkpoint?)"
        ) from None
    except PermissionError:
        raise ActorCriticError(
            f"cannot read {path}: permission denied (run as a user who can read the run directory)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ActorCriticError(
            f"corrupt checkpoint: {path} is not a valid actorcritic state file ({error!s:.80})"
        ) from None
    agent_class = algorithm(algo).agent_class
    return agent_class.load(directory, **config_overrides)


class RunDirectory:
    """The callback that ties training to a run directory: each metrics row to metrics.csv and TensorBoard,
    each checkpoint event to checkpoint/, each evaluation that beats the best so far to checkpoint-best/
    (for a multi-seed run, per seed: checkpoint/seed-K/, checkpoint-best/seed-K/, best.json keyed by seed)."""

    def __init__(self, run_dir: Path, logger: RunLogger, seeds: list[int]):
        self.run_dir = Path(run_dir)
        self.logger = logger
        self.per_seed = len(seeds) > 1
        best_file = self.run_dir / BEST_FILE
        saved = json.loads(best_file.read_text()) if best_file.exists() else {}
        self.best = saved if self.per_seed else ({str(seeds[0]): saved} if saved else {})  # seed -> best.json entry
        if self.per_seed:
            write_seed_order(self.run_dir / CHECKPOINT_DIR, seeds)

    def place(self, directory: str, agent) -> Path:
        """Where `agent` keeps `directory` (checkpoint/ or checkpoint-best/): seed-K/ inside it in a multi-seed run."""
        return (
            seed_subdirectory(self.run_dir / directory, agent.config.seed)
            if self.per_seed
            else self.run_dir / directory
        )

    def on_log(self, agent, metrics: dict[str, float]) -> None:
        self.logger.log(metrics)

    def on_evaluation(self, agent, metrics: dict[str, float]) -> None:
        key = str(agent.config.seed)
        if metrics["eval_return_mean"] > self.best.get(key, {}).get("eval_return_mean", -math.inf):
            self.best[key] = {"eval_return_mean": metrics["eval_return_mean"], "global_step": agent.global_step}
            agent.save(self.place(BEST_CHECKPOINT_DIR, agent), policy_only=True)
            if self.per_seed:
                write_seed_order(self.run_dir / BEST_CHECKPOINT_DIR, [int(seed) for seed in self.best])
            write_json_atomic(self.run_dir / BEST_FILE, self.best if self.per_seed else self.best[key])

    def on_checkpoint(self, agent) -> None:
        agent.save(self.place(CHECKPOINT_DIR, agent))


def _learn_and_summarise(
    agent, run_dir: Path, callbacks: Iterable = (), steps: int | None = None, output: dict | None = None
) -> dict:
    """Open the logs, then (only once training can start) write config.json, train (`steps` more, default: to
    the total), save, evaluate, and write summary.json and curves.png. `agent` may be a `SeedGroup`; `output`
    holds `RunLogger`'s verbose, progress_bar and tensorboard."""
    agents = agent.agents if isinstance(agent, SeedGroup) else [agent]
    seeds = [member.config.seed for member in agents]
    start_steps = {member.config.seed: member.global_step for member in agents}
    end = agent.config.total_steps if steps is None else agent.global_step + steps
    if end > agent.config.total_steps:  # config.json says where this run ends (`Agent.learn` would move it later)
        for member in agents:
            member.config = dataclasses.replace(member.config, total_steps=end)
    logger = RunLogger(run_dir, end, start_steps if len(agents) > 1 else agents[0].global_step, **(output or {}))
    try:
        write_json_atomic(run_dir / CONFIG_FILE, {"algo": agent.algo, **config_to_dict(agent.config)})
        run_directory = RunDirectory(run_dir, logger, seeds)
    except ActorCriticError:
        logger.close()
        raise
    started = time.perf_counter()
    try:
        agent.learn(steps, callbacks=[run_directory, *callbacks])
    finally:
        logger.close()
    wall_time = time.perf_counter() - started
    for member in agents:
        member.save(run_directory.place(CHECKPOINT_DIR, member))
    returns = agent.evaluate()
    steps_done = sum(member.global_step - start_steps[member.config.seed] for member in agents)
    summary = {
        "algo": agent.algo,
        "env": agent.config.env,
        **({"seeds": seeds} if len(agents) > 1 else {"seed": seeds[0]}),
        "total_steps": agent.global_step,
        "resumed_from_step": min(start_steps.values()),
        "resumed_episodes": _resumed_episodes(agents),
        "wall_time_s": round(wall_time, 3),
        "steps_per_second": round(steps_done / wall_time, 1),  # summed over seeds: seed-steps per second
        **_evaluation_stats(agent, returns),
        **agent.summary_extras(),  # e.g. grpo-lm's accuracies
        "run_dir": str(run_dir),
    }
    write_json_atomic(run_dir / SUMMARY_FILE, summary)
    plot_runs([run_dir], run_dir / CURVES_FILE)
    return summary


def _resumed_episodes(agents: list) -> str | None:
    """How a resumed run started its environments (`Agent.resumed_episodes`): "continued" where every seed
    resumed from a checkpoint continued its episodes exactly, "restarted" where one started new episodes;
    None for a run not resumed. A seed that had no checkpoint yet starts from scratch, exactly, and counts
    for neither; grpo-lm has no environments (None)."""
    kinds = {getattr(member, "resumed_episodes", None) for member in agents} - {None}
    return "restarted" if "restarted" in kinds else kinds.pop() if kinds else None


def _evaluation_stats(agent, returns: list) -> dict:
    """A single agent's return statistics; for a `SeedGroup`, each seed's and their aggregate (the mean,
    median and IQM of the seeds' mean returns, with 95% bootstrap CIs)."""
    if not isinstance(agent, SeedGroup):
        return {**_return_stats(returns), **_success_rate(agent)}
    per_seed = [
        {"seed": member.config.seed, **_return_stats(seed_returns), **_success_rate(member)}
        for member, seed_returns in zip(agent.agents, returns)
    ]
    aggregate = aggregate_scores([entry["eval_return_mean"] for entry in per_seed])
    return {
        "eval_episodes": per_seed[0]["eval_episodes"],
        "eval_return_mean": aggregate["mean"],
        "eval_return_std": statistics.pstdev(entry["eval_return_mean"] for entry in per_seed),  # across seeds
        "aggregate": aggregate,
        "per_seed": per_seed,
    }


def _success_rate(agent) -> dict:
    """The success rate of an agent's last evaluation, where its task reports one (goal-conditioned tasks)."""
    successes = getattr(agent, "evaluation_successes", ())
    return {"eval_success_rate": statistics.fmean(successes)} if successes else {}


def _return_stats(returns: list[float]) -> dict:
    return {
        "eval_episodes": len(returns),
        "eval_return_mean": statistics.fmean(returns),
        "eval_return_std": statistics.pstdev(returns),
        "eval_returns": returns,
    }
