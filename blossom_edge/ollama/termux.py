"""Where the Termux installer lives: its download URL and its copy inside the installed package.

The installer is a bash script run inside Termux (`scripts/termux.sh`); it ships inside the
package so a `pip install` copy can be pushed to a phone (`adb push`) when the phone cannot
reach GitHub.
"""

from __future__ import annotations

# The only place the download URL lives; the repository's home is not settled yet.
SCRIPT_URL = "https://raw.githubusercontent.com/blossom-edge/blossom-edge/main/scripts/termux.sh"


def one_liner(args: str = "") -> str:
    """The command a user pastes into Termux; `bash -s --` is how piped bash takes options."""
    return f"curl -fsSL {SCRIPT_URL} | bash" + (f" -s -- {args}" if args else "")


def script_path() -> str:
    """The script's path inside the installed package (a real file for wheel and editable installs)."""
    from importlib.resources import files

    return str(files("blossom_edge") / "scripts" / "termux.sh")
