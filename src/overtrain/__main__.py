"""`python -m overtrain` runs the command line."""

from overtrain.cli import main

main()
