"""``python -m lighting``: the same as the ``lighting`` command."""

from lighting.cli import main

main()
