"""The offline demo and its built-in tiny model."""
