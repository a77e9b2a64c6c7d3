"""Run logging: metrics.csv (header once, appended on resume, empty cells for missing data), TensorBoard."""

import csv
import math

from actorcritic.runs.metrics import RunLogger


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_metrics_csv_keeps_its_header_across_a_resume_and_tells_no_data_from_nan(tmp_path, capsys):
    logger = RunLogger(tmp_path, total_steps=20, tensorboard=False)
    logger.log({"global_step": 10, "updates": 1, "episode_return_mean": None, "loss": 0.5})
    logger.close()
    resumed = RunLogger(tmp_path, total_steps=20, start_step=10, tensorboard=False)
    resumed.log({"global_step": 20, "updates": 2, "episode_return_mean": 3.25, "loss": math.nan, "extra": 1.0})
    resumed.close()
    rows = read_rows(tmp_path / "metrics.csv")
    assert list(rows[0]) == ["global_step", "updates", "episode_return_mean", "loss"]  # columns fixed by the first row
    assert rows == [
        {"global_step": "10", "updates": "1", "episode_return_mean": "", "loss": "0.5"},
        {"global_step": "20", "updates": "2", "episode_return_mean": "3.25", "loss": "nan"},
    ]
    assert "step        20/20" in capsys.readouterr().out  # a plain progress line off a terminal, at the end


def test_tensorboard_events_are_written(tmp_path):
    logger = RunLogger(tmp_path, total_steps=1)
    logger.log({"global_step": 1, "loss": 0.5, "episode_return_mean": None})
    logger.close()
    assert any((tmp_path / "tensorboard").iterdir())
