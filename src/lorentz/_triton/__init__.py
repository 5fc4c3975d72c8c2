"""Fused Triton kernels for torch tensors (extra ``triton``)."""
