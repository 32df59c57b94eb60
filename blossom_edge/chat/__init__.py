"""`blossom-edge chat`: talk to a GGUF in the terminal, prompted by the model's own chat template.

`target` finds the file (a path, or the file `quantize` wrote for an alias), `prompt` renders a
conversation as the model's template does, `sampling` picks the catalog's published settings or
llama.cpp's, `worker` holds the model in a child process, and `session` keeps the history within
the context and runs the loop, which reads and writes through callables so tests need no terminal.
"""
