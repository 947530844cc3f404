"""`python -m overtrain` runs the command line; Ctrl-C while it starts up exits as it does later (130, one line)."""

import sys

try:
    from overtrain.interrupts import interrupted, listen
except KeyboardInterrupt:
    print("overtrain: interrupted", file=sys.stderr)
    sys.exit(130)
listen()
try:
    from overtrain.cli import main
except (KeyboardInterrupt, Exception) as error:
    if not interrupted(error):
        raise
    print("overtrain: interrupted", file=sys.stderr)
    sys.exit(130)

main()
