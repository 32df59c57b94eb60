"""`blossom-edge termux`: how to put Ollama (and this toolkit) on an Android phone.

The installer is a bash script run inside Termux; it ships inside the package so a
`pip install` copy can be pushed to a phone (`adb push`) when the phone cannot reach GitHub.

Examples:
    blossom-edge termux
    adb push "$(blossom-edge termux --path)" /sdcard/Download/termux.sh
"""

from __future__ import annotations

from typing import Annotated

import typer


def termux(
    path_only: Annotated[
        bool, typer.Option("--path", help="Print only the script's path in the installed package.")
    ] = False,
) -> None:
    """Print the one-line command that installs Ollama in Termux, and where the script is.

    Example: blossom-edge termux --path
    """
    from pathlib import Path

    from blossom_edge.base.errors import NotFoundError
    from blossom_edge.ollama.termux import one_liner, script_path

    path = script_path()
    if not Path(path).is_file():
        raise NotFoundError(f"the Termux script is missing from this installation ({path}); reinstall blossom-edge")
    if path_only:
        print(path)
        return
    print("In Termux on the phone (installs Ollama from Termux's repository and starts the server):")
    print(f"  {one_liner()}")
    print("Options go after `bash -s --`, for example GPU offload and start on boot:")
    print(f"  {one_liner('--gpu --boot')}")
    print("Also install this toolkit on the phone so `blossom-edge bench` runs there:")
    print(f"  {one_liner('--with-toolkit')}")
    print(f"The script in this installation (copy it over with adb push if the phone is offline): {path}")
    print(f"All options: bash {path} --help")


def register(app: typer.Typer) -> None:
    app.command("termux")(termux)
