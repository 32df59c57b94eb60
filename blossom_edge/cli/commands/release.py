"""`blossom-edge release SRC... --quants ...`: the publisher's whole matrix on Ray, resumable, with cards and pushes.

Examples:
    blossom-edge release 4b 9b --quants q4_k_m,q5_k_m,q8_0 -o release/ --gpu-tags
    blossom-edge release 4b --quants q4_k_m,q8_0 -o release/ --dry-run
    blossom-edge release 34b --quants q4_k_m,q8_0 -o /shared/release --address auto --split-max-size 50G \\
        --push-hub Azure99/{model}-GGUF --push-ollama
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blossom_edge.base.sizes import unit_help
from blossom_edge.cli.options import JsonOpt


def release(
    sources: Annotated[list[str], typer.Argument(help="Catalog aliases, repo ids (org/name[@revision]) or checkpoint "
                                                      "directories.", show_default=False)],
    quants: Annotated[str, typer.Option("--quants", "-q", help="Comma-separated quant types: q4_k_m,q5_k_m,q8_0,…")],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Release directory (one folder per model; "
                                                                         "on a cluster, a directory every node sees).")],
    gpu_tags: Annotated[bool, typer.Option("--gpu-tags", help="Also write the `-gpu` Modelfile of every type.")] = False,
    address: Annotated[str | None, typer.Option("--address", help="Join this Ray cluster (`auto`, or HOST:PORT from "
                                                                   "`ray start --head`); default: a local Ray.")] = None,
    split_max_size: Annotated[str | None, typer.Option("--split-max-size", metavar="SIZE",
                                                       help="Also split files larger than SIZE (50G for the Hub) in "
                                                            "llama.cpp's layout; the unsplit file stays for Ollama. "
                                                            f"{unit_help(binary=False)}")] = None,
    push_hub: Annotated[str | None, typer.Option("--push-hub", metavar="ORG/NAME",
                                                 help="Upload to this Hub repository ({model} in NAME for several "
                                                      "models).")] = None,
    push_ollama: Annotated[bool, typer.Option("--push-ollama", help="Create every tag in Ollama (OLLAMA_HOST) under "
                                                                    "its published name and push it.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the task graph with each task's CPUs, RAM and "
                                                            "disk; write nothing.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Release models × quant types on Ray: convert once per model, quantize, verify, measure, card, push.

    Example: blossom-edge release 4b 9b --quants q4_k_m,q8_0 -o release/ --gpu-tags
    """
    from dataclasses import asdict

    from blossom_edge.cli.output import Output
    from blossom_edge.release.run import release as run_release
    from blossom_edge.release.split import parse_size

    out = Output(json_output)
    size = parse_size(split_max_size) if split_max_size is not None else None
    result = run_release(sources, [q for q in quants.split(",") if q.strip()], output_dir, gpu_tags=gpu_tags,
                         address=address, split_max_size=size, push_hub=push_hub, push_ollama=push_ollama,
                         dry_run=dry_run, progress=out.progress)
    data = result.plan.to_dict()
    if result.run is not None:
        data["states"] = {k: asdict(v) for k, v in result.run.states.items()}
        data["cards"], data["seconds"] = result.run.cards, round(result.run.seconds, 3)
    data["hub"], data["ollama"] = result.hub, result.ollama
    out.data(data, lambda: _render(out, result))


def _render(out, result) -> None:
    from blossom_edge.base.output import human_bytes
    from blossom_edge.cli.records import Column, paragraph, table
    from blossom_edge.release.progress import COLUMNS, NUMERIC, task_rows

    plan = result.plan
    if result.run is None:
        from blossom_edge.release.graph import TaskState

        states = {n.key: TaskState(n.key, "skipped" if n.done else "waiting", reason=n.why) for n in plan.nodes}
        table(out, [Column(c, right=c in NUMERIC) for c in COLUMNS], task_rows(plan, states))
        todo = plan.todo()
        paragraph(out, f"dry run: {len(todo)} of {len(plan.nodes)} tasks to run, writing about "
                  f"{human_bytes(sum(n.disk for n in todo))}; nothing was written")
        return
    skipped = sum(s.state == "skipped" for s in result.run.states.values())
    if skipped == len(plan.nodes):
        out.print("nothing to do: every file's manifest matches its source, tools, type and sha256")
    out.print(f"[bold green]✓[/] release in {plan.output_dir} in {result.run.seconds:.1f}s "
              f"({len(plan.nodes) - skipped} tasks run, {skipped} already done)")
    for stem, card in result.run.cards.items():
        out.print(f"  {stem}: {card['card']}" + (f" (updated: {', '.join(card['changed'])})" if card["changed"]
                                                  else " (unchanged)"))
    for commit in result.hub:
        out.print(f"  hub {commit['repo']}: {commit['message']}")
    for created in result.ollama:
        out.print(f"  ollama {created['name']}" + (" pushed" if created["pushed"] else ""))


def register(app: typer.Typer) -> None:
    app.command("release")(release)
