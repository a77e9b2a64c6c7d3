"""Sweeps: the sweep file and its trials (`spec`), one trial (`trials`), running them here or on Ray."""
