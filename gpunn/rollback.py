"""The last good state of a run, for the guard against exploding weights: device copies of
the parameters, velocities and averages to go back to, and the checks that say when.

The checks read one flag per layer (or one for all gradients) on the host: the trainer
runs them once per epoch, or per batch only under ``nan_policy="skip-batch"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Snapshot:
    params: list[dict]  # per layer, name → a device copy
    velocities: dict
    averages: dict
    batch: int
    step: int


def take_snapshot(net, optimizer, batch: int, step: int) -> Snapshot:
    """Copies, on the network's device, of everything a step changes, and the position."""
    params = [{k: v.copy() for k, v in layer.params().items()} for layer in net.layers]
    velocities = {k: v.copy() for k, v in optimizer.velocities.items()}
    averages = {k: v.copy() for k, v in optimizer.averages.items()}
    return Snapshot(params, velocities, averages, batch, step)


def restore(net, optimizer, snapshot: Snapshot) -> tuple[int, int]:
    """Put ``snapshot`` back into ``net`` and ``optimizer``; its (batch, step)."""
    for layer, p in zip(net.layers, snapshot.params, strict=True):
        layer.set_params(p)
    optimizer.velocities, optimizer.averages = snapshot.velocities, snapshot.averages
    return snapshot.batch, snapshot.step


def non_finite_layers(net) -> list[int]:
    """Indices of the layers whose w or b holds an inf or NaN (one host read)."""
    xp = net.xp
    flags = xp.stack(
        [xp.isfinite(layer.w).all() & xp.isfinite(layer.b).all() for layer in net.layers]
    )
    return np.flatnonzero(~np.asarray(flags.tolist(), dtype=bool)).tolist()


def grads_finite(net) -> bool:
    """Whether every gradient of the last backprop is finite (one host read)."""
    xp = net.xp
    grads = [g for layer in net.layers for g in layer.grads().values()]
    return bool(xp.stack([xp.isfinite(g).all() for g in grads]).all())
