"""Tiny Qwen3.5 checkpoints (dense and MoE) that keep their vision tower, and llama.cpp's `--mmproj` run on them.

transformers builds Qwen3_5ForConditionalGeneration (and, in moe_checkpoints.py, the MoE one)
with random weights (the tower is one block of width 32, patch 4, 2×2 merge, projecting to the
text model's 128), saved as the hub serves it; preprocessor_config.json is the one the hub's Qwen3.5 checkpoints carry,
scaled to the tiny patch, since the reference takes the image mean and std from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.builders.new_arch_checkpoints import build_qwen3_5

# The hub's Qwen3.5 preprocessor_config.json with the tiny tower's patch size; mean and std
# differ per channel so a converter that writes them in another order is caught.
PREPROCESSOR = {
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "merge_size": 2, "patch_size": 4, "temporal_patch_size": 2,
    "size": {"longest_edge": 16777216, "shortest_edge": 65536},
    "image_processor_type": "Qwen2VLImageProcessorFast", "processor_class": "Qwen3VLProcessor",
}


def build_qwen3_5_vision(path: Path, *, seed: int = 0) -> Path:
    """A Qwen3.5 dense checkpoint with its vision tower and preprocessor_config.json.

    The MoE one is conftest's `qwen35_moe` (multimodal already, as the hub's) seen through
    `with_preprocessor_config`, so the session builds it once.
    """
    build_qwen3_5(path, multimodal=True, seed=seed)
    (path / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2), encoding="utf-8")
    return path


def with_preprocessor_config(model_dir: Path, dst: Path) -> Path:
    """A view of a multimodal checkpoint built elsewhere (its files linked, not copied) with preprocessor_config.json."""
    dst.mkdir(parents=True)
    for item in model_dir.iterdir():
        (dst / item.name).symlink_to(item.resolve())
    (dst / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2), encoding="utf-8")
    return dst


def run_reference_projector(src: Path, model_dir: Path, out: Path, outtype: str) -> subprocess.CompletedProcess:
    """llama.cpp's converter with `--mmproj`, its own gguf-py first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src / "gguf-py"), "NO_LOCAL_GGUF": ""}
    return subprocess.run(
        [sys.executable, str(src / "convert_hf_to_gguf.py"), str(model_dir), "--mmproj", "--outfile", str(out),
         "--outtype", outtype],
        capture_output=True, text=True, env=env,
    )


def gradient_image(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB image (3 bytes a pixel, row-major): a gradient with noise, so every patch differs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1)
    noise = rng.integers(-24, 25, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8).tobytes()
