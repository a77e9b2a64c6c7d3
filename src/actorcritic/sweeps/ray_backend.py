"""The Ray backend of `actorcritic sweep --ray auto|ADDRESS`: the same trials as a local sweep, run by Ray
Tune on a Ray cluster. Imported only by a Ray sweep (Ray is the optional extra `ray`).

What runs where: the `actorcritic sweep` process is Ray's driver; it expands and validates the sweep, writes
sweep.json, starts one Tune trial per pending trial and, at the end, writes results.csv and report.md. Each
trial runs in a Ray worker on whichever node has `cpus_per_trial` free CPUs, with that many torch threads, so
threads x concurrent trials never exceed any node's cores. A trial is `sweeps.run_trial` writing the ordinary
run directory DIR/trials/NAME; so DIR must be on a filesystem that every node sees (Ray needs such a shared
storage path on a multi-node cluster too; its own records go to DIR/ray).

The trial reports every metrics row with `ray.tune.report` and attaches the run's checkpoint each time the
run has written one for every seed. If its worker dies, Tune restarts it (`FailureConfig`), and the restarted
trial resumes from the run's last checkpoint, dropping the rows logged past it: no row repeats, none is missing.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import write_json_atomic
from actorcritic.storage.layout import TRIALS_DIR
from actorcritic.sweeps.spec import Trial
from actorcritic.sweeps.trials import progress, run_trial

MAX_FAILURES = 3
"""Restarts of a trial whose worker died before Tune gives up on it (then `sweep --resume` runs it again)."""
RAY_DIR = "ray"
WORKER_SUFFIX = ".worker.json"
"""trials/NAME.worker.json: the node and process running the trial now (to find its log, or to stop it)."""


def require_ray() -> None:
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise ActorCriticError(
            "--ray needs Ray Tune: pip install 'actorcritic[ray]' (or run the sweep locally without --ray)"
        ) from None


def check_address(address: str) -> None:
    """A one-line error, within seconds, for a cluster address that is malformed or does not answer (Ray
    itself retries for minutes). "auto" is left to Ray."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ActorCriticError(
            f"--ray {address!r} is not an address: give auto, HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:PORT"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise ActorCriticError(
            f"no Ray cluster answers at {address} ({error}): start it with `ray start --head --port {port}` "
            "on that machine, or use --ray auto"
        ) from None


def connect(address: str) -> bool:
    """Join the Ray cluster at `address`; "auto" joins the cluster this machine belongs to (RAY_ADDRESS or
    the latest `ray start` here), or else starts a local Ray on this machine's cores. A Ray already
    initialised in this process is used as it is. True when this call started Ray (so it shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    check_address(address)
    try:
        ray.init(
            address=None if address == "auto" else address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise ActorCriticError(
            f"cannot join the Ray cluster at {address} ({str(error).splitlines()[0]:.100}): start it with "
            "`ray start --head` (then `ray start --address HEAD:6379` on each other node) or use --ray auto"
        ) from None
    return True


def run_on_ray(out: Path, queue: list[Trial], done: int, address: str, cpus_per_trial: int) -> list[str]:
    """Run the trials in `queue` as Tune trials with `cpus_per_trial` CPUs each; the names of those that
    failed (after MAX_FAILURES restarts)."""
    if not queue:
        return []
    require_ray()
    from ray import tune

    out = Path(out).resolve()
    # A function trainable's every report waits for Tune's controller to ask for the next one (a round trip
    # to the driver, ~1 s on a loaded machine): let each worker hand over its rows in batches, at least a
    # second apart, so training never waits on the driver (Tune reads these when the Tuner is built)
    os.environ.setdefault("TUNE_RESULT_BUFFER_LENGTH", "10000")
    os.environ.setdefault("TUNE_RESULT_BUFFER_MIN_TIME_S", "1")
    # Tune's newer console output prints tables even when told to be silent
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    started_ray = connect(address)
    try:
        tuner = tune.Tuner(
            tune.with_resources(_trainable, {"cpu": cpus_per_trial}),
            param_space={
                "trial": tune.grid_search([trial.name for trial in queue]),
                "out": str(out),
                "threads": cpus_per_trial,
                "cwd": os.getcwd(),
            },
            tune_config=tune.TuneConfig(trial_name_creator=_name, trial_dirname_creator=_name),
            run_config=tune.RunConfig(
                name=_attempt_name(out),
                storage_path=str(out / RAY_DIR),
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=[_progress_callback(done)],
            ),
        )
        results = tuner.fit()
        return [result.config["trial"] for result in results if result.error is not None]
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _name(trial) -> str:
    return trial.config["trial"]


def _attempt_name(out: Path) -> str:
    """One Tune experiment per run of the sweep command (a resumed sweep is a new attempt on the unfinished trials)."""
    previous = [path for path in (out / RAY_DIR).glob("attempt-*")] if (out / RAY_DIR).exists() else []
    return f"attempt-{len(previous) + 1}"


def _progress_callback(done_before: int):
    from ray import tune
    from ray.tune.experiment import Trial as TuneTrial

    class Progress(tune.Callback):
        """The local backend's progress line, on every trial start, end, failure and restart."""

        def _print_progress(self, trials, ending=None) -> None:
            # Tune calls on_trial_complete / on_trial_error before it changes the trial's status
            ended = sum(trial is ending or trial.status in (TuneTrial.TERMINATED, TuneTrial.ERROR) for trial in trials)
            running = sum(trial is not ending and trial.status == TuneTrial.RUNNING for trial in trials)
            progress(done_before + ended, running, len(trials) - ended - running)

        def on_trial_start(self, iteration, trials, trial, **info):
            self._print_progress(trials)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._print_progress(trials, ending=trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._print_progress(trials, ending=trial)

        def on_trial_recover(self, iteration, trials, trial, **info):
            print(
                f"sweep: trial {trial.config['trial']} lost its worker; restarting it from its last checkpoint",
                flush=True,
            )

    return Progress()


def _trainable(config: dict) -> None:
    """One trial, in a Ray worker (Tune's function trainable)."""
    if config["cwd"] not in sys.path:  # module:Id environments are found where the sweep was started, as for `train`
        sys.path.insert(0, config["cwd"])
    out, name = Path(config["out"]), config["trial"]
    (out / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / TRIALS_DIR / f"{name}{WORKER_SUFFIX}", {"host": socket.gethostname(), "pid": os.getpid()})
    try:
        run_trial(out, name, config["threads"], callbacks=(TuneReporter(out / TRIALS_DIR / name),))
    except ActorCriticError as error:
        raise RuntimeError(f"actorcritic: error: {error}") from None  # Tune records the message as the trial's error


class TuneReporter:
    """A training callback: every metrics row to Tune, and the run's checkpoint once every seed has saved."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.saved_seeds: set[int] = set()
        self.seeds: set[int] | None = None  # read from the run's config.json, which exists once training started

    def on_log(self, agent, metrics: dict) -> None:
        from ray import tune

        tune.report(dict(metrics))

    def on_checkpoint(self, agent) -> None:
        from ray import tune

        self.saved_seeds.add(agent.config.seed)
        if self.seeds is None:
            config = json.loads((self.run_dir / "config.json").read_text())
            self.seeds = set(config.get("seeds") or [config["seed"]])
        if self.saved_seeds >= self.seeds:
            self.saved_seeds.clear()
            tune.report(
                {"global_step": agent.global_step, "checkpoint_saved": 1},
                checkpoint=tune.Checkpoint.from_directory(str(self.run_dir / "checkpoint")),
            )
