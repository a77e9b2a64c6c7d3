"""Analysis of runs: statistics across seeds (rliable's), reading runs, learning curves, reports."""
