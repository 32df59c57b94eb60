"""Ollama's own rules, ported from its Go source, so a Modelfile is known to work before a server sees it.

Every module here was read from the one Ollama commit named below, and none names a commit of
its own: when Ollama changes, this is the one place that says which Ollama the port matches, and
each module is re-read against the files its docstring cites. The package imports nothing of
blossom_edge but `blossom_edge.base` (an import-linter contract), so it stays a port of Ollama:
Blossom's own choices live one level up, in `blossom_edge.ollama`.
"""

from typing import Final

OLLAMA_REPOSITORY: Final = "https://github.com/ollama/ollama"
OLLAMA_COMMIT: Final = "fb30760996871fa9460115c753afd2c60d4ab0f7"  # 2026-08-21
