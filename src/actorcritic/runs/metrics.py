"""Run logging: metrics.csv (one row per update), TensorBoard event files, and progress on the terminal.

On an interactive terminal a progress bar shows steps/s and the recent episode return; otherwise (CI,
pipes, files) a plain line is printed every few seconds.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path

from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import describe_os_error, write_atomic
from actorcritic.storage.layout import METRICS_FILE


class RunLogger:
    """Writes the per-update metrics of one run directory. Appends when the run is resumed.

    A multi-seed run (`start_steps` naming several seeds) writes every seed's rows to the one metrics.csv
    (column `seed`) and each seed's TensorBoard events to tensorboard/seed-K/, so TensorBoard overlays them."""

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int | dict[int, int] = 0,
        tensorboard: bool = True,
        interval_s: float = 5.0,
        verbose: int = 1,
        progress_bar: bool | None = None,
    ):
        """`verbose` 0 prints nothing, 1 the progress (a bar with `progress_bar`, by default on a terminal; else a
        line every `interval_s` seconds), 2 also every metrics row."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._start_steps = start_step if isinstance(start_step, dict) else {None: start_step}
        self._per_seed = len(self._start_steps) > 1
        self.total_steps = total_steps * len(self._start_steps)  # in seed-steps: the progress counts every seed's
        self.interval_s = interval_s
        self._csv_path = self.run_dir / METRICS_FILE
        self._fields: list[str] | None = None
        try:
            if self._csv_path.is_file() and self._csv_path.stat().st_size > 0:
                self._fields = trim_rows_after(self._csv_path, self._start_steps)
            self._csv_file = open(self._csv_path, "a", newline="")
        except (OSError, ValueError, IndexError) as error:
            raise ActorCriticError(
                f"cannot append to {self._csv_path} ({describe_os_error(error)}): it must be the run's metrics file"
            ) from None
        self._writer: csv.DictWriter | None = None
        # TensorBoard's writers are made at the first row, so that a run refused before training leaves no event file
        self._use_tensorboard, self._tensorboards = tensorboard, {}
        self._steps = dict(self._start_steps)  # the latest step of each seed
        self.verbose = verbose
        bar = sys.stdout.isatty() if progress_bar is None else progress_bar
        self._progress = _ProgressBar(self.total_steps, sum(self._steps.values())) if bar and verbose else None
        self._last_line = time.monotonic()
        self._last_return = math.nan

    def log(self, metrics: dict[str, float | None]) -> None:
        """Record one logging window. `metrics` must hold `global_step`; None marks a value with no data."""
        if self._writer is None:
            self._fields = self._fields or list(metrics)
            self._writer = csv.DictWriter(self._csv_file, fieldnames=self._fields, extrasaction="ignore")
            if self._csv_file.tell() == 0:
                self._writer.writeheader()
        try:
            self._writer.writerow({k: _format(v) for k, v in metrics.items()})
            self._csv_file.flush()
        except OSError as error:
            raise ActorCriticError(
                f"cannot write {self._csv_path}: {describe_os_error(error)}; the last checkpoint is intact"
            ) from None
        step = int(metrics["global_step"])
        seed = metrics.get("seed") if self._per_seed else None
        tensorboard = self._tensorboard(seed) if self._use_tensorboard else None
        if tensorboard is not None:
            for name, value in metrics.items():
                if name not in ("global_step", "seed") and value is not None:
                    tensorboard.add_scalar(name, value, step)
        if metrics.get("episode_return_mean") is not None:
            self._last_return = metrics["episode_return_mean"]
        speed = metrics.get("steps_per_second", math.nan)
        self._steps[seed] = step
        done = sum(self._steps.values())
        if self.verbose >= 2:
            print(
                ", ".join(f"{name} {_format(value)}" for name, value in metrics.items() if value is not None),
                flush=True,
            )
        if self._progress is not None:
            self._progress.update(done, speed, self._last_return)
        elif self.verbose and (time.monotonic() - self._last_line >= self.interval_s or done >= self.total_steps):
            self._last_line = time.monotonic()
            where = f"seed {seed} " if self._per_seed else ""
            print(
                f"{where}step {step:>9,d}/{self.total_steps // len(self._steps):,d} | {speed:8.0f} steps/s | episode "
                f"return {self._last_return:9.2f}",
                flush=True,
            )

    def _tensorboard(self, seed: int | None):
        """The TensorBoard writer of a seed (of the run, for a single seed), made at its first row."""
        if seed not in self._tensorboards:
            from torch.utils.tensorboard import (
                SummaryWriter,  # imported lazily: it costs about a second
            )

            # a resumed run hides the events a crashed process logged after its last checkpoint
            start = self._start_steps.get(seed, 0)
            directory = self.run_dir / "tensorboard" / (f"seed-{seed}" if seed is not None else "")
            self._tensorboards[seed] = SummaryWriter(log_dir=str(directory), purge_step=start + 1 if start else None)
        return self._tensorboards[seed]

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
        for tensorboard in self._tensorboards.values():
            tensorboard.close()
        self._csv_file.close()


def trim_rows_after(path: Path, steps: dict[int | None, int]) -> list[str] | None:
    """Drop the rows of metrics.csv past each seed's step (what a crashed run logged after its last
    checkpoint, which the resumed run will log again); return the header. `steps` maps each seed to its
    step; a single-seed run's one entry applies to every row."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return None
    header, body = rows[0], rows[1:]
    column = header.index("global_step") if "global_step" in header else None
    seed_column = header.index("seed") if "seed" in header and len(steps) > 1 else None

    def last_step(row: list[str]) -> float:
        if seed_column is None:
            return next(iter(steps.values()))
        return steps.get(int(row[seed_column]), -1) if row[seed_column].isdigit() else -1

    kept = [row for row in body if column is None or not row[column] or float(row[column]) <= last_step(row)]
    if len(kept) < len(body):
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *kept])
        write_atomic(path, buffer.getvalue().encode())
    return header


def _format(value: float | None) -> str:
    """None (no data) as an empty cell; a non-finite value as nan / inf / -inf, never as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"


class _ProgressBar:
    def __init__(self, total_steps: int, start_step: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]:>7.0f} steps/s"),
            TextColumn("return {task.fields[ret]:>9.2f}"),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("train", total=total_steps, completed=start_step, speed=0.0, ret=math.nan)
        self._progress.start()

    def update(self, step: int, speed: float, episode_return: float) -> None:
        self._progress.update(self._task, completed=step, speed=speed, ret=episode_return)

    def close(self) -> None:
        self._progress.stop()
