"""The `actorcritic` command.

    actorcritic train ALGO [--run-dir DIR] [--seeds K ... | --num-seeds S] [--any-config-field VALUE ...]
    actorcritic resume RUN_DIR [--total-steps N]
    actorcritic evaluate RUN_DIR [--episodes N] [--seed S] [--best] [--video DIR]
    actorcritic plot RUN_DIR [RUN_DIR ...] --out FILE
    actorcritic export RUN_DIR --format onnx|torchscript --out FILE [--latest]
    actorcritic experiment --list | NAME [--full] [--out DIR] [--option VALUE ...]
    actorcritic sweep FILE --out DIR [--jobs N | --ray auto|ADDRESS [--cpus-per-trial N]] | --resume DIR [--ray ADDRESS]
    actorcritic report DIR [DIR ...] [--out FILE] [--compare X Y] [--normalize FILE]

`train` and `experiment` flags are generated from the config dataclass (`actorcritic.cli.flags`: every field a
kebab-case flag, booleans as --x/--no-x, help from the field docstrings), on top of the tuned preset for the
environment. Every user error ends with one line on stderr and exit code 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from actorcritic.cli.flags import OneLineParser
from actorcritic.cli.parsing import _pop_option, _with_seed_count, parse_config
from actorcritic.config import MAX_SEED, check_range
from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import check_writable_directory, check_writable_file

USAGE = """usage: actorcritic {train,resume,evaluate,plot,export,experiment,sweep,report} ... | --version

  actorcritic train ALGO [--run-dir DIR] [--FIELD VALUE ...]   train a new agent (ALGO: %(algos)s)
  actorcritic resume RUN_DIR [--total-steps N]                continue a run from its checkpoint
  actorcritic evaluate RUN_DIR [--episodes N] [--seed S] [--best] [--video DIR]
                                                              evaluate a run's deterministic policy
  actorcritic plot RUN_DIR [RUN_DIR ...] --out FILE           overlay the learning curves of runs
  actorcritic export RUN_DIR --format onnx|torchscript --out FILE
                                                              the policy as a standalone model
  actorcritic experiment --list | NAME [--full] [--out DIR] [...] reproduce a claim of the lecture
  actorcritic sweep FILE --out DIR [--jobs N | --ray auto|ADDRESS] | --resume DIR  \
a grid of runs (TOML), local or on Ray
  actorcritic report DIR [DIR ...] [--out FILE] [--normalize FILE]  IQM tables and figures over runs or sweeps
  actorcritic --version                                       the installed version

`actorcritic COMMAND --help` says more; `actorcritic train ALGO --help` lists every config field with its default."""

RUN_DIR_HELP = (
    "--run-dir DIR: the run directory to create (default: runs/ALGO-ENV-seedS-TIMESTAMP)\n"
    "--num-seeds S: train seeds SEED, SEED+1, ..., SEED+S-1 in one process (like --seeds; see README, multi-seed runs)"
)


INTERRUPTED_HINT = {
    "experiment": "the finished runs and the others' checkpoints are kept (run the same command again to continue)",
    "sweep": "the finished trials and the others' checkpoints are kept "
    "(continue with `actorcritic sweep --resume DIR`)",
}
"""What an interrupted command has kept, and how to go on, where that is not a run's RESUME_HINT."""
RESUME_HINT = "the last checkpoint is kept (continue with `actorcritic resume RUN_DIR`)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # `--env my_module:MyEnv-v0` finds my_module.py where the user runs the command, as `python -m` would
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return _dispatch(args)
    except ActorCriticError as error:
        print(f"actorcritic: error: {error}", file=sys.stderr)
        return 2
    except PermissionError as error:  # what the checks before the work cannot foresee: a file the user may not read
        print(
            f"actorcritic: error: permission denied: {error.filename or error}: run as a user who may read (and "
            "write) it, or change its permissions",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            f"actorcritic: interrupted; {INTERRUPTED_HINT.get(args[0] if args else '', RESUME_HINT)}", file=sys.stderr
        )
        return 130
    except BrokenPipeError:
        # the reader went away (`actorcritic train ppo --help | head -3`): stop quietly, and keep Python's
        # final flush of stdout from raising again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: list[str]) -> int:
    from actorcritic.algorithms.registry import ALGORITHMS

    usage = USAGE % {"algos": ", ".join(ALGORITHMS)}
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0
    if args[0] == "--version":
        from actorcritic import __version__

        print(f"actorcritic {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command == "train":
        return _train(rest)
    if command == "resume":
        return _resume(rest)
    if command == "evaluate":
        return _evaluate(rest)
    if command == "experiment":
        return _experiment(rest)
    if command == "plot":
        return _plot(rest)
    if command == "export":
        return _export(rest)
    if command == "sweep":
        return _sweep(rest)
    if command == "report":
        return _report(rest)
    raise ActorCriticError(
        f"unknown command {command!r}: use train, resume, evaluate, plot, export, experiment, sweep or report "
        "(see `actorcritic --help`)"
    )


# ---------------------------------------------------------------- train


def _train(args: list[str]) -> int:
    from actorcritic.algorithms.engine import refuse_unfit_environment
    from actorcritic.algorithms.registry import ALGORITHMS, algorithm
    from actorcritic.runs.training import train

    if not args or args[0].startswith("-"):
        if args and args[0] in ("-h", "--help"):
            print(
                "usage: actorcritic train ALGO [--run-dir DIR] [--FIELD VALUE ...]\n"
                f"ALGO: {', '.join(ALGORITHMS)}\n{RUN_DIR_HELP}"
            )
            return 0
        raise ActorCriticError(
            f"train needs an algorithm first: actorcritic train {{{','.join(ALGORITHMS)}}} --env ENV_ID"
        )
    algo, rest = args[0], args[1:]
    registration = algorithm(algo)
    run_dir, rest = _pop_option(rest, "--run-dir")
    num_seeds, rest = _pop_option(rest, "--num-seeds")
    try:
        config = parse_config(registration.config_class, rest, prog=f"actorcritic train {algo}", epilog=RUN_DIR_HELP)
    except ActorCriticError:
        env, _ = _pop_option(list(rest), "--env")
        if env is not None and not any(arg.startswith(("--wrapper", "--training-wrapper")) for arg in rest):
            refuse_unfit_environment(registration.agent_class, env)  # the real complaint, where it is the space
        raise
    if config is None:  # --help was printed
        return 0
    if num_seeds is not None:
        config = _with_seed_count(config, num_seeds)
    note_busy_cores(getattr(config, "num_threads", 1))
    summary = train(algo, config, Path(run_dir) if run_dir else None)
    _print_summary(summary)
    return 0


def note_busy_cores(threads: int) -> None:
    """One line on stdout when the load average says other processes already hold the cores: torch's threads
    then spin-wait against them, and a run that makes hundreds of steps a second makes a few (measured: TD3 at
    about 7 steps/s on a shared 2-core machine). On stdout, with the progress: a note, not an error."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this system
        return
    if load >= cores - 0.5:
        print(
            f"actorcritic: note: the load average ({load:.1f}) says other processes hold this machine's {cores} "
            f"cores; this run's {threads} torch thread(s) will compete with them: expect it to be slower, or run "
            "it alone (--num-threads 1 where several runs share the cores)",
            flush=True,
        )


# ---------------------------------------------------------------- experiments


def _experiment(args: list[str]) -> int:
    from actorcritic import experiments
    from actorcritic.experiments.common import run_experiment

    if not args or args[0] in ("-h", "--help", "--list"):
        if not args or args[0] != "--list":
            print(
                "usage: actorcritic experiment --list | NAME [--full] [--out DIR] [--option VALUE ...]  "
                "(NAME --help lists the options;\n"
                "       --full: the experiment's setting that tests its claim, where it has one: hours, "
                "resumable by running it again)"
            )
        for name in experiments.available():
            print(f"{name:<20} {experiments.load(name).CLAIM}")
        return 0
    name, rest = args[0], args[1:]
    module = experiments.load(name)
    defaults = None
    if "--full" in rest:  # the setting that tests the claim; other flags still apply on top of it
        if not hasattr(module, "FULL"):
            raise ActorCriticError(
                f"experiment {name} has no --full setting: its default is already the claim's test "
                f"(see `actorcritic experiment {name} --help`)"
            )
        rest = [arg for arg in rest if arg != "--full"]
        defaults = module.Config(**module.FULL)
    config = parse_config(module.Config, rest, prog=f"actorcritic experiment {name}", defaults=defaults)
    if config is None:
        return 0
    check_writable_directory(Path(config.out), "--out")  # before the experiment computes for minutes
    run_experiment(name, module, config)
    return 0


# ---------------------------------------------------------------- resume and evaluate


def _resume(args: list[str]) -> int:
    from actorcritic.runs.training import resume

    parser = OneLineParser(prog="actorcritic resume", description="Continue a run from its checkpoint.")
    parser.add_argument("run_dir", type=Path, help="the run directory of an earlier `actorcritic train`")
    parser.add_argument(
        "--total-steps", type=int, help="train up to this many environment steps (default: the run's own total)"
    )
    options = parser.parse_args(args)
    if options.total_steps is not None and options.total_steps < 1:
        raise ActorCriticError(f"--total-steps {options.total_steps} is out of range: total_steps must be in [1, inf]")
    _print_summary(resume(options.run_dir, options.total_steps))
    return 0


def _evaluate(args: list[str]) -> int:
    from actorcritic.runs.training import evaluate

    parser = OneLineParser(prog="actorcritic evaluate", description="Evaluate the deterministic policy of a run.")
    parser.add_argument("run_dir", type=Path, help="the run directory of an earlier `actorcritic train`")
    parser.add_argument(
        "--episodes", type=int, default=None, help="fresh episodes to run (default: the run's eval_episodes)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the evaluation episodes' resets (default: the run's seed; see README, Seeds and streams)",
    )
    parser.add_argument(
        "--best",
        action="store_true",
        help="evaluate checkpoint-best/ (the best periodic evaluation) instead of the latest checkpoint",
    )
    parser.add_argument(
        "--video", type=Path, metavar="DIR", help="also write each episode as an mp4 file into DIR (extra `video`)"
    )
    options = parser.parse_args(args)
    if options.episodes is not None:
        check_range("episodes", options.episodes, 1, 100_000)
    if options.seed is not None:
        check_range("seed", options.seed, 0, MAX_SEED)
    if options.video is not None:
        check_writable_directory(options.video, "--video")
    result = evaluate(options.run_dir, options.episodes, options.seed, best=options.best, video_dir=options.video)
    for entry in result.get("per_seed", []):
        print(
            f"seed {entry['seed']}: return {entry['eval_return_mean']:.2f} ± {entry['eval_return_std']:.2f} "
            f"over {entry['eval_episodes']} episodes"
        )
    if "aggregate" in result:
        print(
            f"{result['algo']} on {result['env']} after {result['global_step']:,d} steps, "
            f"{len(result['per_seed'])} seeds: {_describe_aggregate(result['aggregate'])}"
        )
    else:
        print(
            f"{result['algo']} on {result['env']} after {result['global_step']:,d} steps: "
            f"return {result['eval_return_mean']:.2f} ± {result['eval_return_std']:.2f} "
            f"over {result['eval_episodes']} episodes"
        )
    if options.video is not None:
        print(f"videos in {options.video}")
    return 0


# ---------------------------------------------------------------- plot and export


def _plot(args: list[str]) -> int:
    from actorcritic.analysis.plots import FIGURE_FORMATS, plot_runs

    parser = OneLineParser(prog="actorcritic plot", description="Overlay the learning curves of runs in one figure.")
    parser.add_argument(
        "run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories of `actorcritic train`"
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="the figure to write (its format: --format)"
    )
    parser.add_argument(
        "--format",
        choices=FIGURE_FORMATS,
        help="png, pdf or svg (default: the suffix of --out, else png; a suffix that says otherwise is refused)",
    )
    options = parser.parse_args(args)
    out = figure_path(options.out, options.format)
    check_writable_file(out, "--out")
    plot_runs(options.run_dirs, out)
    print(f"wrote {out}")
    return 0


def figure_path(out: Path, figure_format: str | None) -> Path:
    """--out with --format: the format its suffix names (png, pdf, svg) unless --format names one; --out without
    a suffix takes --format's; a suffix and a --format that disagree are refused."""
    from actorcritic.analysis.plots import FIGURE_FORMATS

    suffix = out.suffix.lower().lstrip(".")
    if figure_format is None:
        return out
    if suffix in FIGURE_FORMATS and suffix != figure_format:
        raise ActorCriticError(f"--out {out} is a .{suffix} file, but --format says {figure_format}: make them agree")
    return out if suffix == figure_format else out.with_name(out.name + f".{figure_format}")


def _export(args: list[str]) -> int:
    from actorcritic.runs.export import FORMATS, export_policy
    from actorcritic.runs.training import load_agent
    from actorcritic.storage.layout import BEST_CHECKPOINT_DIR

    parser = OneLineParser(
        prog="actorcritic export",
        description="Write a run's deterministic policy, observation "
        "normalisation included, as a standalone ONNX or TorchScript model.",
    )
    parser.add_argument("run_dir", type=Path, help="the run directory of an earlier `actorcritic train`")
    parser.add_argument(
        "--format", choices=FORMATS, required=True, help="onnx (needs the `export` extra) or torchscript"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="the model file to write")
    parser.add_argument(
        "--latest", action="store_true", help="export the latest checkpoint even where a best one exists"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="the seed whose policy to export, in a multi-seed run (required there)"
    )
    options = parser.parse_args(args)
    check_writable_file(options.out, "--out")
    best = not options.latest and (options.run_dir / BEST_CHECKPOINT_DIR).exists()
    agent = load_agent(options.run_dir, best=best, seed=options.seed)
    if hasattr(agent, "seed_agent"):
        raise ActorCriticError(
            f"{options.run_dir} is a multi-seed run (seeds {' '.join(map(str, agent.seeds))}): "
            "pick the policy to export with --seed K"
        )
    export_policy(agent, options.out, options.format)
    which = "best" if best else "latest"
    print(
        f"wrote the {which} policy of {options.run_dir} "
        f"({agent.algo} on {agent.config.env}, {agent.global_step:,d} steps) to {options.out}"
    )
    return 0


# ---------------------------------------------------------------- sweeps and reports


def _sweep(args: list[str]) -> int:
    from actorcritic.storage.layout import REPORT_FILE, RESULTS_FILE
    from actorcritic.sweeps.runner import run, start
    from actorcritic.sweeps.spec import Backend, read_sweep_file

    parser = OneLineParser(
        prog="actorcritic sweep", description="Run a grid of trials described in a TOML file (see README, Sweeps)."
    )
    parser.add_argument("file", type=Path, nargs="?", help="the sweep file (TOML)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="the sweep directory to create")
    parser.add_argument(
        "--jobs", type=int, help="local: trials at a time (default: the cores; each gets cores // jobs torch threads)"
    )
    parser.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run the trials on a Ray cluster with Ray Tune (auto: this machine's cluster, or a local Ray)",
    )
    parser.add_argument("--cpus-per-trial", type=int, help="Ray: CPUs (and torch threads) per trial (default 1)")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the sweep in DIR: finished trials kept, started ones resumed",
    )
    options = parser.parse_args(args)
    if options.cpus_per_trial is not None and options.ray is None:
        raise ActorCriticError(
            "--cpus-per-trial is for Ray sweeps (with --ray); a local sweep shares the cores with --jobs"
        )
    if options.resume is not None:
        if (
            options.file is not None
            or options.out is not None
            or options.jobs is not None
            or options.cpus_per_trial is not None
        ):
            raise ActorCriticError(
                "sweep --resume DIR takes no FILE, --out, --jobs or --cpus-per-trial: "
                "the sweep directory holds them (--ray may name the cluster)"
            )
        out = options.resume
    else:
        if options.file is None or options.out is None:
            raise ActorCriticError(
                "sweep needs a FILE and --out DIR (or --resume DIR): actorcritic sweep sweep.toml --out sweeps/first"
            )
        backend = Backend(
            jobs=options.jobs,
            ray=options.ray,
            cpus_per_trial=1 if options.cpus_per_trial is None else options.cpus_per_trial,
        )
        trials = start(read_sweep_file(options.file), options.out, backend)
        print(f"sweep: {len(trials)} trials into {options.out}" + (f" on Ray ({options.ray})" if options.ray else ""))
        out = options.out
    run(out, options.ray)
    print(f"sweep finished: {out / RESULTS_FILE}, {out / REPORT_FILE}")
    return 0


def _report(args: list[str]) -> int:
    from actorcritic.analysis.reports import read_normalization, report_files, write_report

    parser = OneLineParser(
        prog="actorcritic report", description="IQM tables and figures over run or sweep directories."
    )
    parser.add_argument("dirs", type=Path, nargs="+", metavar="DIR", help="run directories or sweep directories")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("report.md"),
        metavar="FILE",
        help="the markdown file to write; its figures and report.csv go to the folder beside it, X_files/ for X.md",
    )
    parser.add_argument("--format", choices=("png", "pdf", "svg"), default="png", help="of the figures (default: png)")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("X", "Y"),
        help="probability that configuration X improves on Y (each: part of its label)",
    )
    parser.add_argument(
        "--normalize",
        type=Path,
        metavar="FILE",
        help="TOML of [ENV] random = R, reference = S: normalise and aggregate across environments",
    )
    options = parser.parse_args(args)
    normalization = read_normalization(options.normalize) if options.normalize else None
    check_writable_file(options.out, "--out")
    check_writable_directory(report_files(options.out), "the folder of the report's figures")
    compare = tuple(options.compare) if options.compare else None
    written = write_report(options.dirs, options.out, compare, normalization, options.format)
    print(f"wrote {written} (its figures and report.csv in {report_files(written)})")
    return 0


def _describe_aggregate(aggregate: dict) -> str:
    from actorcritic.analysis.statistics import describe

    return f"{describe(aggregate, 'iqm')}, {describe(aggregate, 'mean')}"


def _print_summary(summary: dict) -> None:
    if "aggregate" in summary:
        print(
            f"{summary['algo']} on {summary['env']}, {len(summary['seeds'])} seeds: "
            f"evaluation return {_describe_aggregate(summary['aggregate'])} "
            f"({summary['eval_episodes']} episodes per seed) after {summary['total_steps']:,d} steps "
            f"({summary['steps_per_second']:,.0f} seed-steps/s, {summary['wall_time_s']:.1f} s)\n"
            f"run saved in {summary['run_dir']}"
        )
        return
    print(
        f"{summary['algo']} on {summary['env']}: evaluation return {summary['eval_return_mean']:.2f} ± "
        f"{summary['eval_return_std']:.2f} over {summary['eval_episodes']} episodes"
        + (f" (success rate {summary['eval_success_rate']:.2f})" if "eval_success_rate" in summary else "")
        + f" after {summary['total_steps']:,d} steps "
        f"({summary['steps_per_second']:,.0f} steps/s, {summary['wall_time_s']:.1f} s)\n"
        f"run saved in {summary['run_dir']}"
    )


if __name__ == "__main__":
    sys.exit(main())
