"""The one exception type for mistakes a user can fix: bad input, a wrong file, a refused combination."""


class ActorCriticError(Exception):
    """A problem the user can fix. The message is one line that names the problem and the fix; the CLI
    prints it on stderr and exits with code 2, without a traceback."""
