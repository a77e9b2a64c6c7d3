"""The `actorcritic` command: `commands` dispatches, `parsing` and `flags` turn flags into configs."""

from actorcritic.cli.commands import main

__all__ = ["main"]
