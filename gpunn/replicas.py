"""Data parallelism on the CPU: one mini-batch's backprop, or evaluation, split over the cores.

A mini-batch of m examples is cut into P equal runs of rows (P = the cores this
process may use), and each run goes forward and back through its own *replica* of
the layers, one thread each, with OpenBLAS at one thread. A replica is a shallow
copy of a layer: it shares w and b with the network and keeps its own cache (x, z,
a, argmax, masks) and its own gw, gb. The network's gradients are then the sums

    ∂C/∂w = Σ_parts ∂C_part/∂w,    ∂C/∂b = Σ_parts ∂C_part/∂b

exactly what one backprop over all m rows gives (the optimizer divides by m), up to
the order of the float additions. Dropout draws, for rows r.. of a part, the mask
rows r.. of the whole batch (``Layer.first_row``), so the masks are the serial ones.

Why: on a 2-core VM the serial path (Numba loops on one core, OpenBLAS's two threads
for the products) ran conv2-relu at m = 64 in 13–37 ms a step, in phases of seconds;
two halves at once ran in 9–12 ms, steadily (bench/NOTES.md, 2026-12-01 night).

Only networks with convolutions split, and only when the batch's convolution work is
large enough: at least ``MIN_CONV_MACS`` multiply-adds, and ``CONV_MACS_PER_PARAM`` per
parameter (the parts' gradients must be added up). The fully-connected products already
use both cores through BLAS, and a small step loses more to the threads' hand-over than
it gains (conv2-relu splits from m = 26, final from m = 43, fc30 never).

An evaluation forward pass (``output``) splits the same way when its convolution work
reaches ``MIN_CONV_MACS``; it has no gradients to add, so the per-parameter rule does
not apply (final splits from m = 26). Each part returns its rows' z^L and a^L, put back
in order. On the 2-core VM this ran inference at m = 256 1.9× faster (conv2-relu, final)
and at m = 1024 2.2× (final); paired rounds, bench/NOTES.md, 2026-12-02.

A training batch too small to split still keeps each convolutional layer on one core
(``one_core``): its Numba loops and the products on their column buffers run with
OpenBLAS at one thread, so that no buffer written on one core is read or rewritten
on the other. The fully-connected products keep BLAS's threads, which split large
weight matrices over the cores' caches. On the 2-core VM at m = 10 (bench/NOTES.md,
2026-12-02) this ran conv2-relu training 1.29× and final 1.04× faster than BLAS's two
threads everywhere (median of paired rounds); the whole step at one thread was faster
still for conv2-relu (1.07×, its FC 100 is small) but slower for final (0.93×, two FC
1000). Unsplit evaluation (small m) keeps BLAS's threads.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import numpy as np

from gpunn.functions.conv import conv_output_shape
from gpunn.kernels import threads
from gpunn.layers import ConvPool

MIN_CONV_MACS = 40_000_000  # multiply-adds of a batch's convolutions (forward) to split
CONV_MACS_PER_PARAM = 40  # ... and per parameter, whose gradients the parts must add up
MIN_ROWS = 8  # the fewest examples a part gets


def conv_macs(layers) -> int:
    """Multiply-adds of one example's convolutions, forward: Σ (F·OH·OW)·(C·K²)."""
    total = 0
    for layer in layers:
        if isinstance(layer, ConvPool):
            _, f, oh, ow = conv_output_shape(
                (1, *layer.in_shape), layer.w.shape, layer.stride, layer.pad
            )
            total += f * oh * ow * (layer.w.size // f)
    return total


def parts_for(net, m: int, train: bool = True) -> int:
    """How many parts a CPU backprop (``train``) or evaluation forward pass of m examples
    splits into (1: do not split). A forward pass has no gradients to add up, so only
    its convolution work counts."""
    if net.device.is_gpu:
        return 1
    work = conv_macs(net.layers) * m
    if work < MIN_CONV_MACS or not threads.can_split():
        return 1
    if train and work < CONV_MACS_PER_PARAM * sum(
        layer.w.size + layer.b.size for layer in net.layers
    ):
        return 1
    return max(1, min(threads.workers(), m // MIN_ROWS))


def one_core(layer, train: bool) -> contextlib.AbstractContextManager:
    """The context a layer's forward or backward runs in: OpenBLAS at one thread for a CPU
    ``ConvPool`` in training, nothing otherwise (see the module's docstring)."""
    if train and isinstance(layer, ConvPool) and isinstance(layer.w, np.ndarray):
        return threads.single_threaded_blas()
    return contextlib.nullcontext()


def _replicas(net, first_row: int) -> list:
    """Shallow copies of the network's layers (sharing w and b, caches of their own) for the
    part of the batch that starts at row ``first_row``."""
    layers = [copy.copy(layer) for layer in net.layers]
    for layer in layers:
        layer.first_row = first_row
    return layers


def output(net, x: Any, parts: int) -> tuple[Any, Any]:
    """``Network.output`` (evaluation mode: the last layer's z and a) over ``parts`` runs of
    rows at once, each through its own replicas; the rows' results put back in order."""

    def work(lo: int, hi: int) -> tuple[Any, Any]:
        layers = _replicas(net, lo)
        a = net.forward_layers(layers, x[lo:hi], False, 0, 0)
        return layers[-1].z, a

    done = threads.split(x.shape[0], parts, work)
    return tuple(np.concatenate([part[k] for part in done]) for k in (0, 1))


def backprop(net, x: Any, y_onehot: Any, step: Any, seed: int, parts: int) -> None:
    """``Network.backprop`` over ``parts`` runs of rows at once; fills each layer's gw, gb.

    The replicas are made for this call and dropped after it (a shallow copy of a layer
    costs microseconds), so that none outlives the batch it cached, nor a layer replaced
    or changed meanwhile. The network's own layers keep the caches of their last forward
    pass, not this batch's."""
    m = x.shape[0]

    def work(lo: int, hi: int) -> list:
        layers = _replicas(net, lo)
        net.backprop_layers(layers, x[lo:hi], y_onehot[lo:hi], step, seed)
        return [(layer.gw, layer.gb) for layer in layers]

    done = threads.split(m, parts, work)
    for i, layer in enumerate(net.layers):
        gw, gb = done[0][i]  # fresh arrays of the first part's backward: added into
        for grads in done[1:]:
            gw += grads[i][0]
            gb += grads[i][1]
        layer.gw, layer.gb = gw, gb
