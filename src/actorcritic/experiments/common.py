"""What every experiment shares: its result, the three files it writes, the table it prints."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from actorcritic.checkpoint import write_atomic, write_json_atomic
from actorcritic.config import config_to_dict


@dataclass
class ExperimentResult:
    """rows -> results.csv (one dict per row, same keys); summary -> summary.json; draw(path) -> figure.png."""

    rows: list[dict]
    summary: dict
    draw: Callable[[Path], None]
    table_columns: list[str] = field(default_factory=list)


def run_experiment(name: str, module, config) -> ExperimentResult:
    """Run an experiment module with `config`, write its files to `config.out`, print its table."""
    result = module.run(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(result.rows[0]))
    writer.writeheader()
    writer.writerows(result.rows)
    write_atomic(out / "results.csv", buffer.getvalue().encode())
    write_json_atomic(out / "summary.json", {"experiment": name, "claim": module.CLAIM, "config": config_to_dict(config), **result.summary})
    figure_tmp = out / ".figure.tmp.png"
    result.draw(figure_tmp)
    figure_tmp.replace(out / "figure.png")
    print(format_table(result.rows, result.table_columns or list(result.rows[0])))
    print(f"wrote {out / 'results.csv'}, {out / 'figure.png'}, {out / 'summary.json'}")
    return result


def format_table(rows: list[dict], columns: list[str]) -> str:
    def show(value) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    cells = [[show(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6.0, 4.0)):
    """A matplotlib figure with the non-interactive backend (experiments run on servers and in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
