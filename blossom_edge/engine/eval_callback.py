"""The matrix multiplications llama.cpp computes, seen through the scheduler's eval callback.

llama-imatrix learns which weights matter by watching every `MUL_MAT` and `MUL_MAT_ID` node
of the graph: the callback receives the node's `struct ggml_tensor *`, whose sources are the
weight (`src[0]`), the activations (`src[1]`) and, for experts, the routing ids (`src[2]`).
llama-cpp-python binds the callback type and the context field (`llama_context_params.cb_eval`)
but not the tensor, so its layout (ggml.h of the vendored llama.cpp) and the few ggml
accessors needed are declared here, and each node reaches Python as numpy views.
Public replacement: a llama-cpp-python binding of `struct ggml_tensor` with `ggml_op_name` and
`ggml_backend_tensor_get` (or an activation hook on `Llama`), which 0.3.36 does not have.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blossom_edge.base.signals import held

_GGML_MAX_DIMS = 4
_GGML_MAX_SRC = 10
_GGML_MAX_OP_PARAMS = 64
_GGML_MAX_NAME = 64
_GGML_TYPE_F32 = 0
_GGML_TYPE_I32 = 26
# llama-imatrix ignores batches this small (its comment asks why; we follow it to match its figures).
_MIN_ROWS = 16


class _GgmlTensor(ctypes.Structure):
    """ggml.h's `struct ggml_tensor`, field for field."""


_GgmlTensor._fields_ = [
    ("type", ctypes.c_int),
    ("buffer", ctypes.c_void_p),
    ("ne", ctypes.c_int64 * _GGML_MAX_DIMS),
    ("nb", ctypes.c_size_t * _GGML_MAX_DIMS),
    ("op", ctypes.c_int),
    ("op_params", ctypes.c_int32 * (_GGML_MAX_OP_PARAMS // 4)),
    ("flags", ctypes.c_int32),
    ("src", ctypes.POINTER(_GgmlTensor) * _GGML_MAX_SRC),
    ("view_src", ctypes.POINTER(_GgmlTensor)),
    ("view_offs", ctypes.c_size_t),
    ("data", ctypes.c_void_p),
    ("name", ctypes.c_char * _GGML_MAX_NAME),
    ("extra", ctypes.c_void_p),
    ("padding", ctypes.c_char * 8),
]


@dataclass(frozen=True)
class Matmul:
    """One weight multiplication as llama-imatrix sees it.

    `activations` is (ne3, ne2, rows, width) for a dense `MUL_MAT`, (tokens, slots, width) for
    `MUL_MAT_ID`; `expert_ids` is (tokens, experts used) for `MUL_MAT_ID`, else None;
    `weight_mats` is the weight's ne[2] and ne[3] (stacked matrices, experts). The arrays are
    views of llama.cpp's memory, valid only during the call.
    """

    weight: str
    activations: Any
    expert_ids: Any
    weight_mats: tuple[int, int]


def weight_name(raw: bytes) -> str:
    """`CUDA0#blk.0.attn_k.weight#0` → `blk.0.attn_k.weight`, as llama-imatrix strips backend copies."""
    name = raw.decode("utf-8", "replace")
    if "#" in name:
        name = name.split("#", 2)[1]
    return name


class _Ggml:
    """The exported ggml functions the tap calls, from llama-cpp-python's own libggml-base."""

    def __init__(self, lib_dir: Path) -> None:
        candidates = sorted(lib_dir.glob("libggml-base.*")) + sorted(lib_dir.glob("ggml-base.*"))
        if not candidates:
            raise OSError(f"libggml-base not found in {lib_dir}")
        lib = ctypes.CDLL(str(candidates[0]))
        lib.ggml_op_name.argtypes = [ctypes.c_int]
        lib.ggml_op_name.restype = ctypes.c_char_p
        lib.ggml_nbytes.argtypes = [ctypes.POINTER(_GgmlTensor)]
        lib.ggml_nbytes.restype = ctypes.c_size_t
        lib.ggml_backend_buffer_is_host.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_buffer_is_host.restype = ctypes.c_bool
        lib.ggml_backend_tensor_get.argtypes = [ctypes.POINTER(_GgmlTensor), ctypes.c_void_p, ctypes.c_size_t,
                                                ctypes.c_size_t]
        lib.ggml_backend_tensor_get.restype = None
        self.lib = lib
        self._op_names: dict[int, str] = {}

    def op_name(self, op: int) -> str:
        name = self._op_names.get(op)
        if name is None:
            name = self._op_names[op] = self.lib.ggml_op_name(op).decode()
        return name

    def array(self, ptr: Any, dtype: Any, dims: int) -> Any:
        """The tensor's first `dims` dimensions as a numpy view (copied first if it is not in host memory)."""
        import numpy as np

        t = ptr.contents
        nbytes = self.lib.ggml_nbytes(ptr)
        if t.buffer and not self.lib.ggml_backend_buffer_is_host(t.buffer):
            host = np.empty(nbytes, dtype=np.uint8)
            self.lib.ggml_backend_tensor_get(ptr, host.ctypes.data, 0, nbytes)
            base = host
        else:
            base = np.frombuffer((ctypes.c_char * nbytes).from_address(t.data), dtype=np.uint8)
        shape = tuple(int(t.ne[i]) for i in reversed(range(dims)))
        strides = tuple(int(t.nb[i]) for i in reversed(range(dims)))
        return np.ndarray(shape, dtype=dtype, buffer=base, strides=strides)


class MatmulTap:
    """The `cb_eval` callback: asks for llama-imatrix's nodes and hands each to `on_matmul`.

    An exception raised by `on_matmul` cannot cross back into C, so it is kept, the rest of
    the graph is skipped, and `raise_pending()` raises it once the decode call has returned.
    """

    def __init__(self, on_matmul: Callable[[Matmul], None], *, process_output: bool = False) -> None:
        import llama_cpp

        self._ggml = _Ggml(Path(llama_cpp.__file__).parent / "lib")
        self._on_matmul = on_matmul
        self._process_output = process_output
        self._pending: BaseException | None = None
        # Kept on the instance: the C side holds only the raw function pointer.
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)

    def raise_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            raise pending

    def _wanted(self, op: str, t: Any) -> bool:
        if op == "MUL_MAT_ID":
            return True
        if op != "MUL_MAT":
            return False
        src1 = t.src[1].contents
        if src1.ne[1] < _MIN_ROWS or src1.type != _GGML_TYPE_F32:
            return False
        name = weight_name(t.src[0].contents.name)
        return name.startswith("blk.") or (self._process_output and name == "output.weight")

    def _on_node(self, ptr: Any, ask: bool, user_data: Any) -> bool:
        import numpy as np

        if self._pending is not None or held():
            # Asked, say "needed"; then refuse it: the scheduler stops this graph at once (a
            # "not needed" would let it compute the rest). The decode returns, the signal is
            # delivered or the exception raised.
            return bool(ask)
        try:
            tensor = ctypes.cast(ptr, ctypes.POINTER(_GgmlTensor))
            t = tensor.contents
            op = self._ggml.op_name(t.op)
            if ask:
                return self._wanted(op, t)
            src0 = t.src[0].contents
            if t.src[1].contents.type != _GGML_TYPE_F32:
                return True
            if op == "MUL_MAT_ID":
                ids = t.src[2]
                if ids.contents.type != _GGML_TYPE_I32:
                    return True
                event = Matmul(weight_name(src0.name), self._ggml.array(t.src[1], np.float32, 3),
                               self._ggml.array(ids, np.int32, 2), (int(src0.ne[2]), int(src0.ne[3])))
            else:
                event = Matmul(weight_name(src0.name), self._ggml.array(t.src[1], np.float32, 4), None,
                               (int(src0.ne[2]), int(src0.ne[3])))
            self._on_matmul(event)
            return True
        except BaseException as exc:  # noqa: BLE001 - re-raised by raise_pending() after the decode
            self._pending = exc
            return bool(ask)
