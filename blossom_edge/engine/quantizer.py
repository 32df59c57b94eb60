"""llama.cpp's quantizer called through llama-cpp-python's raw ctypes binding, with its log piped out.

`llama_model_quantize` takes a `llama_model_quantize_params` struct whose importance matrix
is a C array of `llama_model_imatrix_data` and whose metadata additions are
`llama_model_kv_override` structs; llama-cpp-python exposes these only as ctypes types.
Public replacement: a Python-level `llama_cpp.quantize(src, dst, ftype, imatrix=..., kv=...)`,
which llama-cpp-python 0.3.36 does not have. Runs inside the quantizer child process.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Mapping
from typing import Any


def quantize(src: str, dst: str, ftype: int, threads: int, *, imatrix: Mapping[str, Any] | None = None,
             kv: Mapping[str, str | int] | None = None) -> int:
    """Quantize `src` to `dst`; llama.cpp's log goes to stdout. Returns llama.cpp's status (0 = success).

    `imatrix` maps tensor names to float32 numpy arrays (already divided by their counts);
    `kv` holds the metadata llama-quantize adds to record its importance matrix.
    """
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        sys.stdout.write(text.decode("utf-8", "replace"))
        sys.stdout.flush()

    llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype)
    params.nthread = int(threads)
    params.allow_requantize = True
    keep_alive: list[Any] = []
    if imatrix:
        items = list(imatrix.items())
        table = (llama_cpp.llama_model_imatrix_data * (len(items) + 1))()
        for slot, (name, values) in zip(table, items):
            slot.name = name.encode()
            slot.data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            slot.size = values.size
            keep_alive.append(values)
        params.imatrix = table
        keep_alive.append(table)
    if kv:
        overrides = (llama_cpp.llama_model_kv_override * (len(kv) + 1))()
        for slot, (key, value) in zip(overrides, kv.items()):
            _set_override(llama_cpp, slot, key, value)
        params.kv_overrides = overrides
        keep_alive.append(overrides)
    code = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    sys.stdout.flush()
    return int(code)


def _set_override(llama_cpp: Any, slot: Any, key: str, value: str | int) -> None:
    """Fill one llama_model_kv_override; the array ends at the first empty key, as llama.h wants."""
    slot.key = key.encode()[:127]
    if isinstance(value, str):
        slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
        slot.value.val_str = value.encode()[:127]
    else:
        slot.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
        slot.value.val_i64 = int(value)
