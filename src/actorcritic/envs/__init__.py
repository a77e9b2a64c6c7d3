"""Environments: building vector environments, seeding streams, exact mid-episode resume, evaluation, Atari."""
