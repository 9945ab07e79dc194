"""``python -m powerflow``."""

from powerflow.cli import main

main()
