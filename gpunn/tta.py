"""Test-time shifts: a network's output averaged over an image and its one-pixel shifts.

The book's expansion trains on each image and its four one-pixel shifts (up, down, left,
right; ``gpunn.data.expand.expand_shifts``). Evaluating the same five views and averaging
the output activations asks the network the question it was trained on five times, at
five times the cost of one evaluation; the weights and the network's size are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpunn.data.expand import SHIFT_VIEWS, image_shape, shifted_images

if TYPE_CHECKING:
    from gpunn.network import Network

VIEWS = SHIFT_VIEWS  # the image, then shifted up, down, left, right


def shifted_views(x: Any, input_shape: tuple[int, ...]) -> Any:
    """(VIEWS, N) + x.shape[1:]: x (N, …) and its four one-pixel shifts, zeros shifted in."""
    return shifted_images(x, image_shape(input_shape)).reshape((VIEWS, *x.shape))


def shifted_probabilities(net: Network, x: Any, batch_size: int = 1000) -> Any:
    """(N, classes): ``net``'s output activations averaged over the five views of x (of x
    through the network's input transform, if it has one: shifted as it was trained)."""
    net.check_examples(x)
    x = net.prepare(x)
    views = shifted_views(x, net.input_shape)
    return sum(net.predict_proba(v, batch_size, prepared=True) for v in views) / VIEWS
