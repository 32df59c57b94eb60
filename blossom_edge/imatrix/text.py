"""The text an importance matrix is computed on: the shipped bilingual set, or the user's files.

Blossom answers in Chinese and English, so the default calibration text is both
(`data/calibration_zh_en.txt`, written for this project); it never shares a sentence with the
text `quality` judges by, or the figures would flatter the calibrated types.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from blossom_edge.base.bounded_read import read_small_file
from blossom_edge.base.errors import CorruptFileError, NotFoundError, UsageError

DEFAULT_TEXT = "calibration_zh_en.txt"
# Calibration sets in use run to a few MB; a 256 MiB "text" is a mistake, not a corpus.
_MAX_TEXT_BYTES = 256 << 20


@dataclass(frozen=True)
class CalibrationText:
    """The text, the dataset names recorded in the matrix, and its digest for provenance."""

    text: str
    datasets: list[str]
    sha256: str


def default_text() -> CalibrationText:
    raw = (resources.files("blossom_edge") / "data" / DEFAULT_TEXT).read_bytes()
    return _from_parts([raw], [f"blossom-edge:{DEFAULT_TEXT}"])


def calibration_text(files: list[Path] | None) -> CalibrationText:
    """The user's files joined by newlines, or the default text when none are given."""
    if not files:
        return default_text()
    parts = []
    for path in files:
        path = path.expanduser()
        if not path.exists():
            raise NotFoundError(f"no such calibration text: {path}")
        if path.is_dir():
            raise UsageError(f"{path} is a directory; --text takes a UTF-8 text file")
        parts.append(read_small_file(path, _MAX_TEXT_BYTES, what="a calibration text"))
    return _from_parts(parts, [str(p) for p in files])


def _from_parts(parts: list[bytes], names: list[str]) -> CalibrationText:
    texts = []
    for raw, name in zip(parts, names):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptFileError(f"{name} is not UTF-8 text (byte {exc.start} cannot be decoded)") from None
        # As llama-imatrix's -f: one trailing newline is not part of the text.
        texts.append(text[:-1] if text.endswith("\n") else text)
    joined = "\n".join(texts)
    return CalibrationText(joined, names, hashlib.sha256(joined.encode("utf-8")).hexdigest())
