"""Allows `python -m blossom_edge`, which works where the console script is not on PATH (Termux)."""

from blossom_edge.cli import main

raise SystemExit(main())
