"""release of a multimodal model: its vision projector in the model's folder (the bytes `convert` writes),
in every type's manifest, on the card, as the second FROM of every Modelfile, and in the Hub upload."""

from __future__ import annotations

import hashlib
import json

import pytest

from blossom_edge.convert.projector import convert_projector
from blossom_edge.inputs.hub import resolve_source
from blossom_edge.ollama.go.modelfile_parser import parse
from blossom_edge.quantize.manifest import manifest_path
from tests.builders.vision_checkpoints import build_qwen3_5_vision

QTYPES = ["q8_0", "q4_0"]
# A catalog name, so the release writes Modelfiles: Blossom V6.4 9B is a Qwen3.5 vision model.
STEM = "blossom-v6.4-9b"
PROJECTOR = f"mmproj-{STEM}-F16.gguf"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    import ray

    from blossom_edge.release.run import release

    ckpt = build_qwen3_5_vision(tmp_path_factory.mktemp("ckpt") / STEM)
    out = tmp_path_factory.mktemp("release")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = release([str(ckpt)], QTYPES, out, gpu_tags=False)
    finally:
        ray.shutdown()
    return ckpt, out / STEM, result


@pytest.mark.slow
def test_the_projector_is_in_the_folder_and_every_manifest(released, tmp_path):
    ckpt, folder, _ = released
    projector = folder / PROJECTOR
    # What `quantize` (and `convert`) write for this checkpoint, named from the catalog as the release names it.
    alone = convert_projector(ckpt, tmp_path / PROJECTOR, out_type="f16", source=resolve_source(str(ckpt)))
    assert projector.read_bytes() == alone.read_bytes()
    sha = hashlib.sha256(projector.read_bytes()).hexdigest()
    for qtype in QTYPES:
        record = json.loads(manifest_path(folder / f"{STEM}-{qtype.upper()}.gguf").read_text())["projector"]
        assert record["file"] == PROJECTOR and record["sha256"] == sha and record["type"] == "F16"
    assert not list(folder.rglob("*.partial"))


@pytest.mark.slow
def test_the_card_lists_it_and_every_modelfile_names_it_second(released):
    _, folder, _ = released
    card = (folder / "README.md").read_text()
    row = next(line for line in card.splitlines() if f"`{PROJECTOR}`" in line)
    assert "vision projector, F16" in row
    assert f"--mmproj {PROJECTOR}" in card
    modelfiles = sorted(folder.glob("*.Modelfile"))
    assert len(modelfiles) == len(QTYPES)
    for path in modelfiles:
        froms = [c.args for c in parse(path.read_text()) if c.name == "model"]
        assert len(froms) == 2 and froms[1] == f"./{PROJECTOR}"


@pytest.mark.slow
def test_the_hub_upload_sends_the_projector_once(released):
    from blossom_edge.release.push import hub_commits

    _, folder, result = released
    commits = hub_commits(result.plan, STEM)
    sent = [c for c in commits if any(name == PROJECTOR for name, _ in c.files)]
    assert len(sent) == 1 and sent[0].files == ((PROJECTOR, folder / PROJECTOR),)
    assert sent[0].message == f"Add the vision projector {PROJECTOR}"
