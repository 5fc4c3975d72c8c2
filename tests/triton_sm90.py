"""Compile every Triton kernel for a GPU that is not here (sm_90 by default), through PTX and
ptxas to a cubin: proves they are valid compiled Triton, which the interpreter does not check.
Run without TRITON_INTERPRET; prints one line per kernel and exits non-zero on a failure."""

from __future__ import annotations

import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from lorentz._triton import COMPILED
from lorentz._triton import kernels as K

TILE = {"BM": 32, "BN": 32, "BK": 32, "BKR": 8, "KP": 512}  # the all-pairs kernels
ROWS = {"BM": 16, "BK": 64}  # the row kernels
FLAGS = ("A_OWNS_LSE", "SQUARED")  # boolean constants: every value is compiled


def _variants(name):
    fn = getattr(K, name)
    meta = TILE if "BN" in fn.arg_names else ROWS
    flags = [f for f in FLAGS if f in fn.arg_names]
    if not flags:
        return [(name, meta)]
    return [(name, {**meta, f: v}) for f in flags for v in (True, False)]


# every kernel of every operation of the Triton package (lorentz._triton.COMPILED), once
KERNELS = [
    v
    for name in dict.fromkeys(n for names in COMPILED.values() for n in names)
    for v in _variants(name)
]


def signature(fn, constexprs):
    def kind(name):
        if name in constexprs:
            return "constexpr"
        if name.endswith("_ptr"):
            return "*fp32"
        return "fp64" if name == "tol" else "i32"

    return {name: kind(name) for name in fn.arg_names}


def main(arch: int) -> int:
    failed = 0
    for name, meta in KERNELS:
        fn = getattr(K, name)
        meta = {k: v for k, v in meta.items() if k in fn.arg_names}
        try:
            compiled = triton.compile(
                ASTSource(fn, signature(fn, meta), meta), target=GPUTarget("cuda", arch, 32)
            )
            print(f"{name} {meta}: ok, {len(compiled.asm['cubin'])} bytes of cubin")
        except Exception as e:  # report every kernel, then fail
            failed += 1
            print(f"{name} {meta}: FAILED {type(e).__name__}: {e}")
    return failed


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 90))
