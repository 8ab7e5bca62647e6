"""Irreversible masks drawn in place on RGB frames.

Only two kinds exist on purpose: a solid fill (the default) and a coarse mosaic whose blocks are
never smaller than a floor. A weak blur can be undone or recognised, so there is none.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_MOSAIC_BLOCK", "solid_fill", "mosaic", "apply_masks"]

#: Smallest mosaic block in pixels; a face box is also cut into at most 6 blocks across, so a
#: mosaic never keeps more than a 6x6 thumbnail of a face.
MIN_MOSAIC_BLOCK = 16
MAX_BLOCKS_ACROSS = 6


def solid_fill(image: np.ndarray, box, color=(0, 0, 0)) -> None:
    """Paint ``image[y1:y2, x1:x2]`` with one colour, in place.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray
    box : sequence of 4 int
        ``x1, y1, x2, y2``, already clipped to the image.
    color : tuple of 3 int
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    if x2 > x1 and y2 > y1:
        image[y1:y2, x1:x2] = color


def mosaic(image: np.ndarray, box, block: int = MIN_MOSAIC_BLOCK) -> None:
    """Replace ``image[y1:y2, x1:x2]`` by the means of coarse blocks, in place.

    The block side is at least ``block`` (itself at least :data:`MIN_MOSAIC_BLOCK`) and at least
    1/6 of the box's longer side, so a face keeps no more than 6 blocks across.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        return
    side = max(int(block), MIN_MOSAIC_BLOCK, -(-max(x2 - x1, y2 - y1) // MAX_BLOCKS_ACROSS))
    region = image[y1:y2, x1:x2]
    h, w = region.shape[:2]
    for by in range(0, h, side):
        for bx in range(0, w, side):
            cell = region[by : by + side, bx : bx + side]
            cell[...] = cell.reshape(-1, cell.shape[-1]).mean(axis=0).astype(image.dtype)


def apply_masks(image: np.ndarray, boxes: np.ndarray, style: str = "solid", block: int = MIN_MOSAIC_BLOCK,
                color=(0, 0, 0)) -> None:
    """Mask every box of ``boxes`` ((N, 4) int, clipped) in ``image`` with ``style``."""
    for box in np.asarray(boxes).reshape(-1, 4):
        if style == "solid":
            solid_fill(image, box, color)
        elif style == "mosaic":
            mosaic(image, box, block)
        else:
            raise ValueError(f"unknown mask style {style!r}: use 'solid' or 'mosaic'")
