"""From a model name to a verified, quantized GGUF, in the order the work happens.

`types` (the quant-type table), `pipeline` (resolve → convert → quantize → verify →
manifest), `child` (llama.cpp's quantizer in a child process and its log), `imatrix`
(importance-matrix files), `verify` (load and generate), `manifest` (the record beside
each output). Nothing heavy is imported here: `fit` and `modelfile` need only `types`.
"""
