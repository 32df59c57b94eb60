"""blossom-edge: the Blossom chat models from a Hugging Face checkpoint to phones, boards and laptops."""

__version__ = "0.1.0"
