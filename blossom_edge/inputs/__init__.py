"""What a user hands us, read and checked: the source argument, the hub, safetensors checkpoints, GGUF headers."""
