"""``python -m textmetric`` runs the CLI (and lets ``torchrun -m textmetric`` launch it)."""

from .cli import main

main()
