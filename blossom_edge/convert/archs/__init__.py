"""Every architecture the converter supports; add a module and list it here."""

from blossom_edge.convert.archs.llama import LLAMA
from blossom_edge.convert.archs.qwen2 import QWEN2
from blossom_edge.convert.archs.qwen3 import QWEN3

ARCHITECTURES = (QWEN2, QWEN3, LLAMA)
