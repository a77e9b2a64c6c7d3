"""The names of the files a run directory and a sweep directory hold: one place, read by the code that writes
them (`runs`, `sweeps`) and by the code that reads them (`analysis`).

A run directory holds

    config.json       the full config, with the algorithm's name under "algo"
    metrics.csv       one row per logging window (global_step, episode_return_mean, steps_per_second, losses, ...)
    tensorboard/      the same metrics as TensorBoard event files
    checkpoint/       the latest checkpoint (safetensors + JSON, see `actorcritic.storage.checkpoint`)
    checkpoint-best/  the policy of the best periodic evaluation so far (with --eval-every), and best.json
    curves.png        episode and evaluation returns against environment steps
    summary.json      written at the end: wall time, speed and the final deterministic evaluation

A multi-seed run (`--seeds`, see `actorcritic.runs.seeds`) has the same files, with every seed in them:
metrics.csv has a row per seed per logging window (column `seed`), tensorboard/seed-K/ per seed,
checkpoint/seed-K/ and checkpoint-best/seed-K/ per seed (each an ordinary single-seed checkpoint, with
seeds.json listing the seeds), best.json per seed, curves.png the mean across seeds with its 95% CI band,
and summary.json every seed's final evaluation plus the mean, median and IQM with 95% stratified-bootstrap
CIs (`actorcritic.analysis.statistics`).

A sweep directory holds sweep.json (the sweep file as given), trials/NAME/ (one run directory per trial),
results.csv (one row per trial) and report.md.
"""

from __future__ import annotations

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
CHECKPOINT_DIR = "checkpoint"
BEST_CHECKPOINT_DIR = "checkpoint-best"
BEST_FILE = "best.json"
CURVES_FILE = "curves.png"

SWEEP_FILE = "sweep.json"
RESULTS_FILE = "results.csv"
REPORT_FILE = "report.md"
TRIALS_DIR = "trials"
