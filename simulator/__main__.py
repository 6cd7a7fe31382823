"""``python -m simulator``: the same as ``lighting sim``."""

from simulator.cli import main

main()
