"""The one exception type for mistakes a user can fix: bad input, a wrong file, a refused combination; and the
one way to warn."""

import functools
import sys


class ActorCriticError(Exception):
    """A problem the user can fix. The message is one line that names the problem and the fix; the CLI
    prints it on stderr and exits with code 2, without a traceback."""


@functools.cache
def warn_once(message: str) -> None:
    """`actorcritic: warning: MESSAGE` on stderr, once per process (a multi-seed run starts each seed's learning,
    and a warning is about the machine or the settings, not the seed)."""
    print(f"actorcritic: warning: {message}", file=sys.stderr)
