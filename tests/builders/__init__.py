"""Builders of test inputs: checkpoints, tokenizers and GGUF files made on the fly."""
