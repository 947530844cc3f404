"""`python -m overtrain` runs the command line; Ctrl-C while it starts up exits as it does later (130, one line)."""

import sys

from overtrain.interrupts import listen

listen()


def _interrupted(error: BaseException | None) -> bool:
    """A Ctrl-C, or one Python 3.11 wrapped in a RuntimeError because it landed while a module created a class."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


try:
    from overtrain.cli import main
except (KeyboardInterrupt, Exception) as error:
    if not _interrupted(error):
        raise
    print("overtrain: interrupted", file=sys.stderr)
    sys.exit(130)

main()
