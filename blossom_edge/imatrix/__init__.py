"""Importance matrices: computed as llama-imatrix computes them (compute, collector), written and
read in llama.cpp's GGUF format (writer, reader), on the shipped or the user's text (text)."""
