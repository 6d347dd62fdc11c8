"""Command groups of the ``voltlab`` CLI (each a typer sub-app registered in :mod:`voltlab.cli`)."""
