"""The score tables of TQC and CrossQ (issue 39; docs/tqc-scores.md, docs/crossq-scores.md): ours and
sb3-contrib's on MuJoCo tasks at the same settings, budget and seeds, with IQMs and 95% CIs. A run takes an hour or
more on one core, so a table is built across sessions: each finished (task, library, seed) leaves two small files
in OUT (committed under docs/runs/ALGO-scores), and `run` trains only the missing ones. Not a timing: it may share
the machine.

    python scripts/scores.py run tqc --out docs/runs/tqc-scores --envs HalfCheetah-v5 --seeds 0 1 2 --jobs 2
    python scripts/scores.py table docs/runs/tqc-scores

`run ALGO`: one process per (task, library, seed), `--jobs` at once, one torch thread each, ours before the peer's
for each seed. Both sides run `TABLE_SETTINGS[ALGO]`, `--total-steps` steps, 10 deterministic evaluation episodes
every 10k steps on an environment of its own:
* tqc: sb3-contrib's TQC defaults (2 critics x 25 quantiles, 2 dropped per critic, 256-256 ReLU, Adam 3e-4, batch
  256, τ 0.005, automatic entropy from α = 1, 1M buffer) and our off-policy defaults where the libraries differ
  (25k uniformly random steps; sb3-contrib's default is 100).
* crossq: sb3-contrib's CrossQ defaults (Adam 1e-3 with β1 = 0.5, actor every 3rd update, batch renormalisation of
  momentum 0.01 and 100k warm-up batches, no target networks, automatic entropy from α = 1, 1M buffer), the paper's
  5,000 random steps, and critics of 256-256 instead of 1024-1024: at 1024 a run costs ~5 h (ours) to ~8 h
  (sb3-contrib's) of this project's 2-core machines, at 256 ~1.5 h / ~2 h on one core (docs/crossq-scores.md).
Ours is `actorcritic train ALGO --run-dir DIR` with these settings spelled out (`our_flags`: our MuJoCo presets
would otherwise apply the papers' critics), its run in `--scratch`: an interrupted run of ours resumes exactly from
its checkpoint there (or starts again if it stopped before its first); the peer saves its state there at every
evaluation and an interrupted one continues from the last (not exactly: `peer_scores.load_state`,
`resumed_from_step` in its json). Each writes OUT/TASK/LIBRARY/seed-K.csv (step, eval_return_mean) and, when
finished, seed-K.json; a seed with a json is done.

`file RUN_DIR... --out OUT`: files finished runs of ours started by hand (`actorcritic train ALGO --run-dir DIR` with
`our_flags`); a run of any other setting, of several seeds, an unfinished one or a seed filed already is refused.

`table`: per task and library, the finished seeds' final evaluations and late means (the evaluations of the last
`--late` steps), IQM and mean with 95% bootstrap CIs (rliable's, as `actorcritic report`), and P(our run > the
peer's run) on the late means, as a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import multiprocessing
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_scores import settings_for, train_one_seed  # noqa: E402  (the peer's training, shared)

from actorcritic.config import config_to_dict  # noqa: E402
from actorcritic.errors import ActorCriticError  # noqa: E402

ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
LIBRARIES = ("actorcritic", "sb3-contrib")
EVAL_EVERY, EVAL_EPISODES = 10_000, 10
TABLE_SETTINGS = {
    "tqc": settings_for("tqc"),
    "crossq": {**settings_for("crossq"), "critic_hidden_sizes": [256, 256]},
}
"""The settings both sides run, per algorithm (the module's docstring says why these)."""


def our_flags(algo: str, env: str, seed: int, total_steps: int) -> list[str]:
    """The flags of `actorcritic train ALGO --run-dir DIR` for one run of the table: its settings spelled out
    (TABLE_SETTINGS holds lists, as the json files do)."""
    return [
        "--env", env, "--seed", str(seed), "--total-steps", str(total_steps), "--num-threads", "1",
        "--eval-every", str(EVAL_EVERY), "--eval-episodes", str(EVAL_EPISODES),
        *(item for name, value in TABLE_SETTINGS[algo].items()
          for item in (f"--{name.replace('_', '-')}", *map(str, value if isinstance(value, list) else [value]))),
    ]  # fmt: skip


def our_config(algo: str, env: str, seed: int, total_steps: int):
    """Our config of one run of the table: `our_flags` read as `actorcritic train ALGO` reads them."""
    from actorcritic.algorithms.registry import algorithm
    from actorcritic.cli.parsing import parse_config

    return parse_config(algorithm(algo).config_class, our_flags(algo, env, seed, total_steps), prog=algo)


def train_ours(algo: str, env: str, seed: int, total_steps: int, out: Path, scratch: Path) -> None:
    """Our run in `scratch`, brought to its end whatever state an interruption left it in (`train_or_resume`:
    resumed exactly from its checkpoint, or started again where it stopped before its first), then filed in
    OUT/TASK/actorcritic. In this process (a job's own), its progress unprinted."""
    from actorcritic.runs.training import train_or_resume

    run_dir = scratch / env / f"seed-{seed}"
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(os.devnull, "w") as silent, contextlib.redirect_stdout(silent):
        train_or_resume(algo, our_config(algo, env, seed, total_steps), run_dir)
    file_ours(run_dir, out)


def file_ours(run_dir: Path, out: Path) -> Path:
    """A finished `actorcritic train ALGO` run's evaluations and summary -> OUT/seed-K.{csv,json}; refused unless
    it is a run of the table (every setting of its config.json `our_config`'s, one seed) that reached its end.
    Returns the json's path."""
    config = json.loads((run_dir / "config.json").read_text())
    algo = config.get("algo")
    if algo not in TABLE_SETTINGS or not (run_dir / "summary.json").exists():
        raise ActorCriticError(f"{run_dir} is not a finished run of {' or '.join(TABLE_SETTINGS)}")
    check_one_algorithm(out.parent.parent, algo)
    expected = config_to_dict(our_config(algo, config["env"], config["seed"], config["total_steps"]))
    expected = json.loads(json.dumps(expected))  # as config.json holds it (lists for tuples)
    different = {name: config.get(name) for name, value in expected.items() if config.get(name) != value}
    if different:
        raise ActorCriticError(f"{run_dir} ran other settings than the table's: {different}")
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = [(int(row["global_step"]), float(row["eval_return_mean"])) for row in csv.DictReader(handle)
                if row["eval_return_mean"]]  # fmt: skip
    if not rows:
        raise ActorCriticError(f"{run_dir} has no evaluation: it ran fewer than {EVAL_EVERY:,d} steps")
    summary = json.loads((run_dir / "summary.json").read_text())
    seed = config["seed"]
    if (out / f"seed-{seed}.json").exists():
        raise ActorCriticError(f"{out / f'seed-{seed}.json'} exists: seed {seed} is filed already")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"seed-{seed}.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("step", "eval_return_mean"), *rows])
    result = {
        "algo": algo,
        "env": config["env"],
        "seed": seed,
        "total_steps": config["total_steps"],
        "final_eval_return": rows[-1][1],
        "settings": TABLE_SETTINGS[algo],  # checked above
        "wall_seconds": round(summary["wall_time_s"]),  # of the last part where the run was resumed
        "resumed_from_step": summary["resumed_from_step"],
        "library": "actorcritic",
    }
    (out / f"seed-{seed}.json").write_text(json.dumps(result, indent=2) + "\n")
    return out / f"seed-{seed}.json"


def train(algo: str, library: str, env: str, seed: int, total_steps: int, out: Path, scratch: Path) -> str | None:
    """One (task, library, seed) run; a failure is reported and leaves the other runs going."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        if library == "actorcritic":
            train_ours(algo, env, seed, total_steps, out, scratch)
        else:
            state = scratch / env / library / f"seed-{seed}"
            settings = TABLE_SETTINGS[algo]
            train_one_seed(algo, env, seed, total_steps, EVAL_EVERY, EVAL_EPISODES, out, settings, scratch=state)
    except Exception as error:  # noqa: BLE001  (reported, and `run` exits 1)
        return f"{env} {library} seed {seed}: failed: {error}"
    return None


def check_one_algorithm(out: Path, algo: str | None = None) -> None:
    """One table, one algorithm: refuses an OUT whose finished runs are of several algorithms, or of another than
    `algo` (the one about to be added)."""
    found = {str(json.loads(path.read_text()).get("algo")) for path in out.glob("*/*/seed-*.json")}
    mixed = found | ({algo} - {None})
    if len(mixed) > 1:
        raise ActorCriticError(
            f"{out} mixes {', '.join(sorted(mixed))}: it holds runs of {', '.join(sorted(found))}; "
            "give each algorithm's table an --out of its own"
        )


def run(args: argparse.Namespace) -> None:
    check_one_algorithm(args.out, args.algo)
    scratch = args.scratch or Path(f"full-runs/{args.algo}-scores")
    jobs = [
        (args.algo, library, env, seed, args.total_steps, args.out / env / library, scratch)
        for env in args.envs
        for seed in args.seeds
        for library in args.libraries
        if not (args.out / env / library / f"seed-{seed}.json").exists()
    ]
    print(f"{len(jobs)} runs to do: " + "; ".join(f"{env} {library} {seed}" for _, library, env, seed, *_ in jobs))
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        failures = [said for said in pool.starmap(train, jobs, chunksize=1) if said]
    print("\n".join(failures) or f"{len(jobs)} runs done")
    raise SystemExit(1 if failures else 0)


def finished_curves(directory: Path) -> tuple[list[dict[int, float]], set[int]]:
    """The finished seeds' {step: eval_return_mean} in a library's directory, and the budgets they ran."""
    curves, budgets = [], set()
    for summary in sorted(directory.glob("seed-*.json")):
        budgets.add(json.loads(summary.read_text())["total_steps"])
        with open(summary.with_suffix(".csv"), newline="") as handle:
            curves.append({int(row["step"]): float(row["eval_return_mean"]) for row in csv.DictReader(handle)})
    return curves, budgets


def table(args: argparse.Namespace) -> None:
    from actorcritic.analysis.statistics import aggregate_scores, probability_of_improvement

    def interval(scores: list[float], name: str) -> str:
        stats = aggregate_scores(scores)
        return f"{stats[name]:,.0f} [{stats[name + '_ci'][0]:,.0f}, {stats[name + '_ci'][1]:,.0f}]"

    check_one_algorithm(args.out)
    print(
        f"| task | library | seeds | final evaluation per seed | final: IQM [95% CI] | "
        f"late mean (last {args.late:,d} steps): IQM [95% CI] | mean [95% CI] | P(ours > peer), late means |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for env_dir in sorted(path for path in args.out.iterdir() if path.is_dir()):
        late_means = {}
        for library in LIBRARIES:
            curves, budgets = finished_curves(env_dir / library)
            if not curves:
                continue
            if len(budgets) > 1:
                raise ActorCriticError(f"{env_dir / library} mixes budgets {sorted(budgets)}")
            last = budgets.pop()
            final = [curve[max(curve)] for curve in curves]  # at the budget (the peer's last multiple of 10k)
            late = [statistics.fmean(v for step, v in curve.items() if step > last - args.late) for curve in curves]
            late_means[library] = late
            versus = ""
            if library != "actorcritic" and "actorcritic" in late_means:
                improvement = probability_of_improvement(late_means["actorcritic"], late)
                low, high = improvement["probability_ci"]
                versus = f"{improvement['probability']:.2f} [{low:.2f}, {high:.2f}]"
            print(
                f"| {env_dir.name}, {last:,d} steps | {library} | {len(curves)} | "
                f"{', '.join(f'{x:,.0f}' for x in final)} | {interval(final, 'iqm')} | {interval(late, 'iqm')} | "
                f"{interval(late, 'mean')} | {versus} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train the missing (task, library, seed) runs")
    run_parser.add_argument("algo", choices=sorted(TABLE_SETTINGS))
    run_parser.add_argument("--out", type=Path, required=True)
    run_parser.add_argument(
        "--scratch", type=Path, help="our run directories, the peer's saved states (default: full-runs/ALGO-scores)"
    )
    run_parser.add_argument("--envs", nargs="+", default=list(ENVS))
    run_parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    run_parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run_parser.add_argument("--total-steps", type=int, default=200_000)
    run_parser.add_argument("--jobs", type=int, default=2)
    file_parser = commands.add_parser("file", help="file finished runs of ours made by hand (same settings)")
    file_parser.add_argument("run_dirs", type=Path, nargs="+")
    file_parser.add_argument("--out", type=Path, required=True)
    table_parser = commands.add_parser("table", help="the Markdown table of the finished runs")
    table_parser.add_argument("out", type=Path)
    table_parser.add_argument("--late", type=int, default=50_000, help="the late mean's last steps")
    args = parser.parse_args()
    try:
        if args.command == "file":
            for run_dir in args.run_dirs:
                config = json.loads((run_dir / "config.json").read_text())
                print(f"filed {file_ours(run_dir, args.out / config['env'] / 'actorcritic')}")
        else:
            run(args) if args.command == "run" else table(args)
    except (ActorCriticError, OSError, KeyError, ValueError) as error:  # bad input: one line (training's own
        print(f"scores.py: error: {error}", file=sys.stderr)  # failures are reported by `run` per job)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
