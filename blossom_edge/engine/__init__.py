"""The one seam below the public APIs of llama-cpp-python, ggml, gguf-py and the ollama client.

Everything here reaches past what those libraries promise: ctypes structures of ggml and
llama.h, private attributes (`Llama._ctx`, `Client._client`) and overridden private methods
(`GGUFWriter._pack_val`, `GGUFReader._build_fields`). It is guarded by the exact pins in
pyproject.toml and by tests that compare each piece with the stock behaviour; upgrading one
of those libraries means auditing this package, and only this package. Each reach-in says
in a comment which public call would replace it. No module outside `engine/` imports
`ctypes` or touches a private attribute of these libraries (`tests/test_layout.py` checks).
"""
