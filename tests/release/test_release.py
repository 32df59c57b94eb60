"""release: two tiny checkpoints (qwen2, llama) × three types on a local 2-CPU Ray, resumed, killed, split, pushed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blossom_edge.cli import main
from blossom_edge.quantize.manifest import manifest_path
from blossom_edge.release.run import release

QTYPES = ["q4_k_m", "q5_k_m", "q8_0"]
# Catalog names, so Modelfiles and Ollama names come from the catalog: one Qwen2, one Llama (Yi) model.
MODELS = (("blossom-v5-4b", "qwen2"), ("blossom-v5.1-9b", "llama"))


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> list[Path]:
    from tests.builders.checkpoints import build_checkpoint

    root = tmp_path_factory.mktemp("ckpt")
    return [build_checkpoint(root / name, arch, hidden=256, layers=2) for name, arch in MODELS]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def released(local_ray, checkpoints, tmp_path_factory):
    """The release, with the worker of the first quantize task seen running SIGKILLed mid-task."""
    out = tmp_path_factory.mktemp("release")
    killed: list[tuple[str, int]] = []

    def kill_first_quantize(states) -> None:
        for key, state in states.items():
            if not killed and key.endswith("/quantize") and state.state == "running" and state.pid:
                os.kill(state.pid, signal.SIGKILL)
                killed.append((key, state.pid))

    t0 = time.perf_counter()
    result = release([str(c) for c in checkpoints], QTYPES, out, gpu_tags=True,
                     on_update=kill_first_quantize)
    return out, result, killed, time.perf_counter() - t0


@pytest.mark.slow
def test_release_files_are_what_quantize_makes_alone(released, checkpoints, tmp_path):
    from blossom_edge.quantize.pipeline import quantize_pipeline

    out, result, _, _ = released
    for (stem, _arch), ckpt in zip(MODELS, checkpoints):
        for qtype in QTYPES:
            alone = quantize_pipeline(str(ckpt), qtype, tmp_path / stem).path
            ours = out / stem / alone.name
            assert ours.read_bytes() == alone.read_bytes(), ours.name
            manifest = json.loads(manifest_path(ours).read_text())
            assert manifest["sha256"] == _sha(ours) and manifest["bytes"] == ours.stat().st_size
            assert manifest["qtype"] == qtype.upper() and manifest["source"]["path"] == str(ckpt.resolve())


@pytest.mark.slow
def test_one_card_per_model_lists_every_file(released):
    out, result, _, _ = released
    for stem, _arch in MODELS:
        card = (out / stem / "README.md").read_text()
        assert card.startswith("---\nbase_model: ") and "- gguf\n" in card and "- llama.cpp\n" in card
        assert "- zh\n- en\n" in card and "quantized_by: blossom-edge" in card
        ggufs = sorted(p for p in (out / stem).glob("*.gguf") if not p.name.endswith(".imatrix.gguf"))
        assert len(ggufs) == len(QTYPES)
        for gguf in ggufs:
            manifest = json.loads(manifest_path(gguf).read_text())
            row = next(line for line in card.splitlines() if f"`{gguf.name}`" in line and manifest["sha256"] in line)
            assert manifest["qtype"] in row and f"{manifest['bits_per_weight']:.2f}" in row
            assert "—" not in row  # perplexity and KL were measured
        assert "llama-cli -m" in card and "ollama run" in card and "termux.sh" in card
        modelfiles = sorted(p.name for p in (out / stem).glob("*.Modelfile"))
        assert len(modelfiles) == 2 * len(QTYPES) and sum("-gpu" in m for m in modelfiles) == len(QTYPES)
    assert not list(out.rglob("*.partial")) and not list(out.rglob("*.intermediate.gguf"))


@pytest.mark.slow
def test_killed_worker_is_retried(released):
    out, result, killed, _ = released
    [(key, pid)] = killed
    state = result.run.states[key]
    assert state.state == "done" and state.attempts >= 2 and state.pid != pid
    assert all(s.state == "done" for s in result.run.states.values())


@pytest.mark.slow
def test_second_run_redoes_nothing(released, checkpoints):
    out, _, _, first_seconds = released
    before = _files(out)
    t0 = time.perf_counter()
    again = release([str(c) for c in checkpoints], QTYPES, out, gpu_tags=True)
    seconds = time.perf_counter() - t0
    assert all(s.state == "skipped" for s in again.run.states.values())
    assert all(card["changed"] == [] for card in again.run.cards.values())
    assert _files(out) == before
    assert seconds < first_seconds / 3


def _last_logits(path: Path, tokens: list[int]):
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=64, logits_all=True, verbose=False)
    try:
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)])
    finally:
        llm.close()


@pytest.mark.slow
def test_split_release_loads_from_first_shard_with_the_same_logits(local_ray, checkpoints, tmp_path):
    import numpy as np

    result = release([str(checkpoints[0])], ["q8_0"], tmp_path, split_max_size=400_000)
    model_dir = tmp_path / MODELS[0][0]
    unsplit = model_dir / f"{MODELS[0][0]}-Q8_0.gguf"
    shards = sorted(model_dir.glob(f"{unsplit.stem}-*-of-*.gguf"))
    assert len(shards) >= 2 and shards[0].name.endswith(f"-00001-of-{len(shards):05d}.gguf")
    tokens = [1, 20, 300, 40, 5, 60]
    assert np.array_equal(_last_logits(shards[0], tokens), _last_logits(unsplit, tokens))
    card = (model_dir / "README.md").read_text()
    assert all(f"`{s.name}`" in card for s in shards)
    record = json.loads((model_dir / ".release" / f"{unsplit.name}.split.json").read_text())
    assert [s["sha256"] for s in record["shards"]] == [_sha(s) for s in shards]
    again = release([str(checkpoints[0])], ["q8_0"], tmp_path, split_max_size=400_000)
    assert again.run.states[f"{MODELS[0][0]}/Q8_0/split"].state == "skipped"
    assert result.plan.split_max_size == 400_000


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records what would be sent, holds an empty repository."""

    def __init__(self) -> None:
        self.repos: list[str] = []
        self.commits: list[dict] = []

    def create_repo(self, repo_id, repo_type=None, exist_ok=False):
        self.repos.append(repo_id)

    def list_repo_tree(self, repo_id, recursive=False, expand=False):
        return []

    def create_commit(self, repo_id, operations, commit_message, repo_type=None):
        from huggingface_hub import CommitOperationAdd

        assert all(isinstance(op, CommitOperationAdd) for op in operations)
        self.commits.append({"repo": repo_id, "message": commit_message,
                             "files": {op.path_in_repo: op.path_or_fileobj for op in operations}})


@pytest.mark.slow
def test_an_interrupted_release_continues_where_it_stopped(local_ray, checkpoints, tmp_path):
    """Ctrl-C once the first type is verified; the second run keeps that file and makes the rest.

    One of the types needs an importance matrix, so the release computes it (its own task) and
    the file is the one `quantize` makes alone, matrix and provenance keys included.
    """
    from blossom_edge.inputs.gguf_info import read_gguf_info
    from blossom_edge.quantize.pipeline import quantize_pipeline

    types = ["q4_k_m", "iq2_xs"]
    stem = MODELS[0][0]

    def interrupt_after_first_verify(states) -> None:
        if any(k.endswith("/verify") and s.state == "done" for k, s in states.items()):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        release([str(checkpoints[0])], types, tmp_path, on_update=interrupt_after_first_verify)
    # At least the first type is finished (both may be, if the second verify ended in the same poll);
    # the card, which waits for every type's quality, is not.
    done = [p for p in (tmp_path / stem).glob("*.gguf") if manifest_path(p).is_file()]
    assert done and not (tmp_path / stem / "README.md").exists()
    kept = {p.name: p.stat().st_mtime_ns for p in done}

    again = release([str(checkpoints[0])], types, tmp_path)
    for path in done:
        qtype = path.name.removeprefix(f"{stem}-").removesuffix(".gguf")
        assert again.run.states[f"{stem}/{qtype}/quantize"].state == "skipped"
    assert {n: (tmp_path / stem / n).stat().st_mtime_ns for n in kept} == kept
    assert again.run.states[f"{stem}/card"].state == "done"
    assert (tmp_path / stem / "README.md").is_file() and not list(tmp_path.rglob("*.partial"))
    low_bit = tmp_path / stem / f"{stem}-IQ2_XS.gguf"
    alone = quantize_pipeline(str(checkpoints[0]), "iq2_xs", tmp_path / "alone").path
    assert low_bit.read_bytes() == alone.read_bytes()
    assert read_gguf_info(low_bit).metadata["quantize.imatrix.file"] == f"{stem}.imatrix.gguf"


@pytest.mark.slow
def test_hub_push_sends_each_file_in_its_own_commit(released):
    from blossom_edge.release.push import push_hub

    out, result, _, _ = released
    api = RecordingHfApi()
    push_hub(result.plan, "Azure99/{model}-GGUF", api=api)
    assert api.repos == [f"Azure99/{stem}-GGUF" for stem, _ in MODELS]
    for stem, _arch in MODELS:
        commits = [c for c in api.commits if c["repo"] == f"Azure99/{stem}-GGUF"]
        for commit, qtype in zip(commits, QTYPES):
            name = f"{stem}-{qtype.upper()}.gguf"
            assert commit["message"] == f"Add {name} ({qtype.upper()}, one file)"
            assert commit["files"] == {name: str(out / stem / name),
                                       manifest_path(Path(name)).name: str(manifest_path(out / stem / name))}
        last = commits[-1]
        assert last["message"] == "Update model card, Modelfiles and importance matrix"
        assert "README.md" in last["files"] and sum(f.endswith(".Modelfile") for f in last["files"]) == 6
        assert not any(".release" in f or f.endswith(".partial") for c in commits for f in c["files"])


@pytest.mark.slow
def test_ollama_push_creates_and_pushes_the_catalog_names(released, monkeypatch):
    from blossom_edge.model.catalog import lookup
    from blossom_edge.release.push import push_ollama
    from blossom_edge.release.tags import ollama_name
    from tests import ollama_server

    out, result, _, _ = released
    state, server = ollama_server.start()
    monkeypatch.setenv("OLLAMA_HOST", state.url)
    try:
        created = push_ollama(result.plan)
    finally:
        server.shutdown()
    expected = {str(ollama_name(lookup(stem), q, gpu)) for stem, _ in MODELS for q in QTYPES for gpu in (False, True)}
    assert {c["name"] for c in created} == expected and all(c["pushed"] for c in created)
    assert {r.json()["model"] for r in state.calls("POST", "/api/push")} == expected
    assert set(state.models) == expected


def test_dry_run_prints_the_graph_and_writes_nothing(checkpoints, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["release", *map(str, checkpoints), "--quants", "q4_k_m,iq2_xs", "-o", str(out), "--dry-run",
                 "--json", "--split-max-size", "1M"])
    assert code == 0 and not out.exists()
    data = json.loads(capsys.readouterr().out)
    kinds = {(t["model"], t["kind"]) for t in data["tasks"]}
    assert {(stem, k) for stem, _ in MODELS for k in ("convert", "imatrix", "quantize", "verify", "reference", "quality",
                                                      "split", "card")} == kinds
    quantize = next(t for t in data["tasks"] if t["kind"] == "quantize")
    assert quantize["memory"] > 0 and quantize["disk"] > 0 and quantize["num_cpus"] >= 1
    assert quantize["deps"] == [f"{quantize['model']}/convert"]


def test_per_type_tasks_share_the_node_so_ray_runs_them_side_by_side(checkpoints, tmp_path):
    from blossom_edge.release.plan import plan_release

    def cpus(qtypes: list[str], node_cpus: int) -> dict[str, int]:
        plan = plan_release([str(checkpoints[0])], qtypes, tmp_path, node_cpus=node_cpus, download=False)
        return {n.kind: n.num_cpus for n in plan.nodes}

    one = cpus(["q4_k_m"], 2)
    assert (one["convert"], one["quantize"], one["verify"], one["quality"], one["card"]) == (2, 2, 1, 2, 1)
    four = cpus(["q4_k_m", "q5_k_m", "q6_k", "q8_0"], 2)
    assert (four["convert"], four["quantize"], four["quality"]) == (2, 1, 1)
    assert cpus(["q4_k_m", "q5_k_m", "q6_k", "q8_0"], 8)["quantize"] == 2
    assert cpus(["q4_k_m"], 1)["convert"] == 1


def test_missing_ray_is_one_line(monkeypatch, checkpoints, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["release", str(checkpoints[0]), "--quants", "q4_k_m", "-o", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == "blossom-edge: error: ray is not installed: pip install 'blossom-edge[release]'"


@pytest.mark.parametrize("args, message", [
    (["--quants", "q4kk"], "unknown quant type"),
    (["--quants", "q4_k_m", "--split-max-size", "big"], "invalid size"),
    (["--quants", "q4_k_m", "--push-hub", "noslash"], "ORG/NAME"),
])
def test_user_errors_are_one_line(checkpoints, tmp_path, capsys, args, message):
    code = main(["release", str(checkpoints[0]), "-o", str(tmp_path / "out"), "--dry-run", *args]
                if "--push-hub" not in args else ["release", str(checkpoints[0]), "-o", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and message in err, err


def test_help_never_imports_ray():
    code = ("import sys; from blossom_edge.cli import main; main(['release', '--help']); "
            "sys.exit(3 if 'ray' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "Example: blossom-edge release" in done.stdout


def test_one_reference_logits_task_per_model_feeds_every_quality(checkpoints, tmp_path, capsys):
    code = main(["release", *map(str, checkpoints), "--quants", "q4_k_m,iq2_xs,q8_0", "-o", str(tmp_path / "out"),
                 "--dry-run", "--json"])
    assert code == 0
    tasks = json.loads(capsys.readouterr().out)["tasks"]
    for stem, _ in MODELS:
        [reference] = [t for t in tasks if t["model"] == stem and t["kind"] == "reference"]
        assert reference["deps"] == [f"{stem}/convert"] and not reference["done"]
        qualities = [t for t in tasks if t["model"] == stem and t["kind"] == "quality"]
        assert len(qualities) == 3 and all(reference["key"] in q["deps"] for q in qualities)
        assert [t["key"] for t in tasks].index(reference["key"]) < min(
            [t["key"] for t in tasks].index(q["key"]) for q in qualities)


@pytest.mark.slow
def test_quality_figures_come_from_one_reference_pass(released):
    from blossom_edge.quantize.quality import DEFAULT_CTX, eval_text
    from blossom_edge.release.resume import quality_path

    out, result, _, _ = released
    for stem, _arch in MODELS:
        state = result.run.states[f"{stem}/reference"]
        assert state.state == "done" and state.attempts == 1
        records = [json.loads(quality_path(out / stem, out / stem / f"{stem}-{q.upper()}.gguf").read_text())
                   for q in QTYPES]
        assert len({r["reference"]["perplexity"] for r in records}) == 1
        assert all((r["text_sha256"], r["ctx"]) == (eval_text().sha256, DEFAULT_CTX) and r["kl_mean"] > 0
                   and 0 < r["same_top"] <= 1 for r in records)
        card = (out / stem / "README.md").read_text()
        assert f"`-f eval_zh_en.txt -c {DEFAULT_CTX}`" in card and f"{records[0]['chunks']} chunks of" in card
    assert not list(out.rglob("*.kld-base"))
