"""Run directories: training, resuming and evaluating runs, metrics logs, seed groups, export."""
