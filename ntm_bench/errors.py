"""The one exception type for bad input: the CLI prints its message on one line and exits non-zero."""


class BenchError(Exception):
    """A problem with what the user asked for (config, names, paths, plugins), not a bug.

    The message must name the problem and, where there is a list, the valid choices.
    """


def choices(names) -> str:
    """'a, b, c' for an error message listing valid choices."""
    names = sorted(names)
    return ", ".join(names) if names else "(none)"
