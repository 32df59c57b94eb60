"""Ollama: Modelfiles with the model's own chat template proved, names, the client, model creation, Termux."""
