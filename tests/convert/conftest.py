"""The tiny checkpoint of each architecture past the llama family, built once: the architecture
matrix (test_architectures.py) and the architecture's own module share it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builders.moe_checkpoints import build_qwen3_5_moe, build_qwen3_moe
from tests.builders.new_arch_checkpoints import build_glm4, build_qwen3_5, build_seed_oss

# Experts per layer and experts routed to, in both MoE checkpoints; the Qwen3.5-MoE checkpoint's main
# blocks (block QWEN35_MOE_LAYERS is its MTP block).
EXPERTS, ACTIVE = 8, 2
QWEN35_MOE_LAYERS = 4


@pytest.fixture(scope="session")
def glm4(tmp_path_factory) -> Path:
    return build_glm4(tmp_path_factory.mktemp("glm4") / "ckpt", sharded=True)


@pytest.fixture(scope="session")
def seed_oss(tmp_path_factory) -> Path:
    return build_seed_oss(tmp_path_factory.mktemp("seed") / "ckpt", sharded=True)


@pytest.fixture(scope="session")
def qwen35(tmp_path_factory) -> Path:
    return build_qwen3_5(tmp_path_factory.mktemp("q35") / "ckpt", sharded=True)


@pytest.fixture(scope="session")
def qwen3_moe(tmp_path_factory) -> Path:
    """Sharded so that one layer's experts lie in two shards; the real Qwen2 vocabulary, which
    llama.cpp's converter recognises."""
    model_dir = build_qwen3_moe(tmp_path_factory.mktemp("qwen3moe") / "ckpt", experts=EXPERTS, active=ACTIVE,
                                sharded=True)
    weight_map = json.loads((model_dir / "model.safetensors.index.json").read_text())["weight_map"]
    spans = [{shard for name, shard in weight_map.items() if f".layers.{i}.mlp.experts." in name} for i in range(2)]
    assert any(len(shards) > 1 for shards in spans), "the fixture must put a layer's experts in several shards"
    return model_dir


@pytest.fixture(scope="session")
def qwen35_moe(tmp_path_factory) -> Path:
    """The multimodal checkpoint as the hub serves it: main experts fused, the MTP layer's per expert
    in a shard of its own."""
    return build_qwen3_5_moe(tmp_path_factory.mktemp("qwen35moe") / "ckpt", experts=EXPERTS, active=ACTIVE)
