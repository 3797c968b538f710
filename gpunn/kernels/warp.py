"""A Numba CPU loop behind ``random_distort`` on NumPy arrays: the coordinate map and the
bilinear read in one pass, with no (N, C, H, W) temporaries.

The vectorised form (``gpunn.data.expand``) builds some ten image-sized temporaries (source
rows and columns, their floors and fractions, four gathered corners); this loop computes
each output pixel's source point and reads it directly. Single-threaded and releasing
the GIL, so ``gpunn.kernels.threads`` runs it on ranges of images at once. Compiled on
first use and cached on disk. The arithmetic is in the images' dtype (float32 or
float64), in the vectorised form's order, so the two agree to rounding.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def warp_bilinear(images, cos, sin, shift, field, n0, n1, out):
    """out[n, c, i, j] = images[n, c] read bilinearly at (r, s), zero outside, n in [n0, n1):

    r = cos_n·y + sin_n·x − shift[n, 0] + field[n, 0, i, j] + (H − 1)/2,
    s = −sin_n·y + cos_n·x − shift[n, 1] + field[n, 1, i, j] + (W − 1)/2,

    with (y, x) = (i − (H − 1)/2, j − (W − 1)/2): the point that a rotation by the
    angle whose cosine and sine are (cos_n, sin_n), then the shift, then the elastic
    field move to (i, j). images, out (N, C, H, W); cos, sin (N,); shift (N, 2); field
    (N, 2, H, W), or (0, 2, H, W) for none; all of one float dtype.
    """
    _, C, H, W = images.shape
    one, zero = np.float32(1), np.float32(0)
    mid_h, mid_w = np.float32((H - 1) / 2), np.float32((W - 1) / 2)
    last_r, last_c = np.float32(H), np.float32(W)  # clamp bounds
    elastic = field.shape[0] > 0
    for n in range(n0, n1):
        cn, sn = cos[n], sin[n]
        for i in range(H):
            y = np.float32(i) - mid_h
            for j in range(W):
                x = np.float32(j) - mid_w
                r = cn * y + sn * x - shift[n, 0] + mid_h
                s = -sn * y + cn * x - shift[n, 1] + mid_w
                if elastic:
                    r += field[n, 0, i, j]
                    s += field[n, 1, i, j]
                r = min(max(r, -one), last_r)  # further out, all four corners are zeros
                s = min(max(s, -one), last_c)
                r0, s0 = np.floor(r), np.floor(s)
                fr, fs = r - r0, s - s0
                a, b = int(r0), int(s0)
                for c in range(C):
                    plane = images[n, c]
                    v00 = plane[a, b] if 0 <= a < H and 0 <= b < W else zero
                    v01 = plane[a, b + 1] if 0 <= a < H and 0 <= b + 1 < W else zero
                    v10 = plane[a + 1, b] if 0 <= a + 1 < H and 0 <= b < W else zero
                    v11 = plane[a + 1, b + 1] if 0 <= a + 1 < H and 0 <= b + 1 < W else zero
                    top = v00 * (one - fs) + v01 * fs
                    bottom = v10 * (one - fs) + v11 * fs
                    out[n, c, i, j] = top * (one - fr) + bottom * fr
