"""predaudit.plots.png writes PNG files that Pillow (the reference decoder) reads back
pixel for pixel, with every chunk's CRC checked and the resolution Pillow itself writes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from predaudit.plots.png import encode_png


def decoded(data: bytes) -> Image.Image:
    Image.open(io.BytesIO(data)).verify()  # every chunk's CRC, the IEND chunk
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (4, "RGBA")])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (450, 800)])
def test_pillow_reads_back_the_pixels(channels, mode, shape):
    rng = np.random.default_rng(sum(shape) + channels)
    pixels = rng.integers(0, 256, size=(*shape, channels), dtype=np.uint8)
    pixels[: shape[0] // 2] = 255  # a flat half, as in a figure
    image = decoded(encode_png(pixels))
    assert image.mode == mode and image.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(image), pixels)


def test_a_view_of_rgba_pixels_is_written_as_rgb():
    rgba = np.zeros((5, 6, 4), dtype=np.uint8)
    rgba[..., 0] = np.arange(6)
    rgba[..., 3] = 255
    image = decoded(encode_png(rgba[..., :3]))  # not contiguous
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image), rgba[..., :3])


@pytest.mark.parametrize("dpi", [72, 100, 150.5])
def test_the_resolution_is_what_pillow_writes_and_reads(dpi):
    pixels = np.full((4, 4, 3), 200, dtype=np.uint8)
    reference = io.BytesIO()
    Image.fromarray(pixels).save(reference, format="png", dpi=(dpi, dpi))
    ours = decoded(encode_png(pixels, dpi=dpi))
    assert ours.info["dpi"] == Image.open(reference).info["dpi"]
    assert "dpi" not in decoded(encode_png(pixels)).info


def test_bytes_are_stable_and_level_changes_only_the_compression():
    pixels = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    assert encode_png(pixels, dpi=100) == encode_png(pixels.copy(), dpi=100)
    for level in (0, 1, 9):
        assert np.array_equal(np.asarray(decoded(encode_png(pixels, level=level))), pixels)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 2, 3), dtype=np.float32),
        np.zeros((2, 2), dtype=np.uint8),
        np.zeros((2, 2, 2), dtype=np.uint8),
        np.zeros((0, 2, 3), dtype=np.uint8),
    ],
)
def test_other_arrays_are_refused(bad):
    with pytest.raises(ValueError, match="pixels|PNG"):
        encode_png(bad)
