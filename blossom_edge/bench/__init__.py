"""Speed on this device: llama-bench-style runs, the same through Ollama, and where results are kept.

`row` (the one result row every part reads and writes), `measure` (device samples and timing
statistics around a test), `llama` (GGUF files through llama.cpp), `ollama` (a model in a
running Ollama), `bandwidth` (the memory-bandwidth ceiling), `store` (the local SQLite store).
"""
