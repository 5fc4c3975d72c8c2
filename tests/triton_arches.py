"""Compile the all-pairs kernels of every precision scheme to cubins for the GPUs the policy
names (lorentz._triton.precision), without a GPU: the float64 kernels (triton_sm90.KERNELS)
and the mixed kernel's split and half variants, for each architecture given (default: 75 80
86 89 90 100 120; --mixed-only: the mixed kernel alone). Run without TRITON_INTERPRET; prints one line per kernel and arch, and
exits with the number of failures."""

from __future__ import annotations

import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton_sm90 import KERNELS, signature

from lorentz._triton import kernels as K
from lorentz._triton import mixed

ARCHES = (75, 80, 86, 89, 90, 100, 120)
MIXED = {"BM": 32, "BN": 32, "BK": 16, "KC": 256, "BKR": 8, "ASM": True}


def mixed_signature(rows: str, split: bool):
    """Pointer types of the mixed kernel: rows of ``rows`` (fp32 for split, fp16 or bf16 for
    half), float16 pieces, float32 row data and c, float64 c for the exact recompute."""
    kinds = {
        "a_ptr": rows,
        "b_ptr": rows,
        "pa_ptr": "*fp16",
        "pb_ptr": "*fp16",
        "ma_ptr": "*fp32",
        "mb_ptr": "*fp32",
        "c_ptr": "*fp64",
        "cf_ptr": "*fp32",
        "out_ptr": "*fp32",
        "tol": "fp32",
    }
    fn = mixed.pairwise_dist_mixed_kernel
    meta = {**MIXED, "SPLIT": split, "KC": 256 if split else 64}
    return ({n: "constexpr" if n in meta else kinds.get(n, "i32") for n in fn.arg_names}, meta)


def jobs(arch: int, mixed_only: bool):
    for name, meta in [] if mixed_only else KERNELS:
        fn = getattr(K, name)
        meta = {k: v for k, v in meta.items() if k in fn.arg_names}
        yield f"{name} {meta}", fn, signature(fn, meta), meta
    for label, rows, split in (
        ("split", "*fp32", True),
        ("half fp16", "*fp16", False),
        ("half bf16", "*bf16", False),
    ):
        if arch < 80 and rows == "*bf16":
            continue  # sm_75 has no bfloat16 tensor cores (and torch no bfloat16 MMA there)
        sig, meta = mixed_signature(rows, split)
        yield f"pairwise_dist_mixed_kernel {label}", mixed.pairwise_dist_mixed_kernel, sig, meta


def main(arches, mixed_only=False) -> int:
    failed = 0
    for arch in arches:
        for label, fn, sig, meta in jobs(arch, mixed_only):
            try:
                compiled = triton.compile(
                    ASTSource(fn, sig, meta), target=GPUTarget("cuda", arch, 32)
                )
                print(f"sm_{arch} {label}: ok, {len(compiled.asm['cubin'])} bytes of cubin")
            except Exception as e:  # report every kernel, then fail
                failed += 1
                print(f"sm_{arch} {label}: FAILED {type(e).__name__}: {str(e)[:300]}")
    return failed


if __name__ == "__main__":
    args = sys.argv[1:]
    only = "--mixed-only" in args
    sys.exit(main([int(a) for a in args if a != "--mixed-only"] or ARCHES, only))
