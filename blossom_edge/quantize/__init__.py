"""From a model name to a verified, quantized GGUF, in the order the work happens.

`types` (the quant-type table), `pipeline` (resolve → convert → quantize → verify →
manifest, with an importance matrix computed first where the type needs one), `child`
(llama.cpp's quantizer in a child process and its log), `verify` (load and generate),
`manifest` (the record beside each output). Importance matrices live in `blossom_edge.imatrix`. Nothing heavy is imported here: `fit` and `modelfile` need only `types`.
"""
