"""The tests, by area: tests/<area>/ holds the tests of blossom_edge/<area>/, tests/hostile/ the hostile
inputs and runs that cross areas. Paths are taken from here, so a test module can move between areas."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
