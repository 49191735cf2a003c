"""Pure image jitter for training pairs: small random shifts, rotations and scalings (numpy only).

Each image of each record gets its own affine transform about the image centre, sampled
bilinearly with zeros outside, so a few thousand source images give many distinct pairs.
"""

from dataclasses import dataclass

import numpy as np

from caffesiam.limits import JITTER_MAX


@dataclass(frozen=True)
class Jitter:
    """Uniform ranges: shift in pixels (each axis), rotation in degrees, scale as a fraction."""

    shift: float = 2.0
    rotate: float = 10.0
    scale: float = 0.1

    def describe(self) -> dict:
        return {"max_shift_px": self.shift, "max_rotate_deg": self.rotate, "max_scale": self.scale}


def parse_jitter(text: str) -> Jitter:
    """'shift=2,rotate=10,scale=0.1' (any subset, the rest default) -> Jitter; ValueError if bad."""
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in Jitter.__dataclass_fields__:
            raise ValueError(f"expected shift=PX, rotate=DEG or scale=FRACTION, got {item!r}")
        try:
            values[key] = float(value)
        except ValueError:
            raise ValueError(f"{key}: {value!r} is not a number") from None
        top = JITTER_MAX[key]
        within = 0 <= values[key] < top if key == "scale" else 0 <= values[key] <= top  # nan: never
        if not within:
            bound = f"< {top:g}" if key == "scale" else f"<= {top:g}"
            raise ValueError(f"{key} must be >= 0 and {bound}, got {value}")
    return Jitter(**values)


def affine_matrices(rng: np.random.Generator, n: int, jitter: Jitter) -> np.ndarray:
    """n inverse maps (n x 2 x 3): output (y, x, 1) relative to the centre -> input offset."""
    angle = np.deg2rad(rng.uniform(-jitter.rotate, jitter.rotate, n))
    scale = 1.0 + rng.uniform(-jitter.scale, jitter.scale, n)
    shift = rng.uniform(-jitter.shift, jitter.shift, (n, 2))
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    linear = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    offset = -np.einsum("nij,nj->ni", linear, shift)
    return np.concatenate([linear, offset[:, :, None]], axis=2)


def warp(images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Apply one inverse map per image (N x C x H x W uint8), bilinear, zero outside.

    float32 throughout: within one gray level of scipy.ndimage.affine_transform(order=1).
    """
    n, channels, height, width = images.shape
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    grid_y, grid_x = (
        g.ravel()
        for g in np.meshgrid(
            np.arange(height, dtype=np.float32) - centre_y,
            np.arange(width, dtype=np.float32) - centre_x,
            indexing="ij",
        )
    )
    m = maps.astype(np.float32)[..., None]
    source_y = m[:, 0, 0] * grid_y + m[:, 0, 1] * grid_x + (m[:, 0, 2] + centre_y)
    source_x = m[:, 1, 0] * grid_y + m[:, 1, 1] * grid_x + (m[:, 1, 2] + centre_x)
    top, left = np.floor(source_y), np.floor(source_x)
    down, right = (source_y - top)[:, None], (source_x - left)[:, None]
    # A zero border, and neighbours clipped onto it: samples outside read zeros without masks.
    padded = np.zeros((n, channels, height + 2, width + 2), np.float32)
    padded[:, :, 1:-1, 1:-1] = images
    rows = [(np.clip(top.astype(np.int32) + d, -1, height) + 1) * (width + 2) for d in (0, 1)]
    cols = [np.clip(left.astype(np.int32) + d, -1, width) + 1 for d in (0, 1)]
    first = (np.arange(n * channels, dtype=np.int32) * padded[0, 0].size).reshape(n, channels, 1)
    flat = padded.reshape(-1)

    def row(r):  # one row of neighbours, blended across x
        return (
            flat[(r + cols[0])[:, None] + first] * (1 - right)
            + flat[(r + cols[1])[:, None] + first] * right
        )

    out = row(rows[0]) * (1 - down) + row(rows[1]) * down
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(images.shape)


def jitter_images(images: np.ndarray, jitter: Jitter, seed) -> np.ndarray:
    """A jittered copy of a batch; the same seed gives the same bytes."""
    rng = np.random.default_rng(seed)
    return warp(images, affine_matrices(rng, len(images), jitter))
