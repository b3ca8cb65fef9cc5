"""Issue 11, kind 3: one image loader for stills, styles and sequences, whatever the file holds.

16-bit greyscale is scaled, not clipped to white; palette, CMYK and grey become RGB;
transparency is composited on white; huge images are read reduced instead of raising PIL's
decompression-bomb error. The still loader and the image-sequence reader agree pixel for pixel.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vidstyle.image.io import load_image
from vidstyle.image.load import BACKGROUND, REDUCE_ABOVE_PIXELS, read_rgb8
from vidstyle.video import open_video


@pytest.fixture(scope="module")
def photo(media) -> np.ndarray:
    """A real photo (skimage's camera, greyscale 512x512), cut small."""
    with Image.open(media / "content" / "skimage_camera.png") as im:
        return np.asarray(im.convert("L").resize((64, 48)))


def _grey16(photo8: np.ndarray) -> np.ndarray:
    return photo8.astype(np.uint16) * 257  # 8-bit values spread over the full 16-bit range


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_greyscale_is_scaled_not_clipped_to_white(tmp_path, photo, suffix):
    path = tmp_path / f"s16{suffix}"
    Image.fromarray(_grey16(photo)).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I;16"), im.mode  # PIL's convert("RGB") would clip this to white
    rgb, size = read_rgb8(path)
    assert size == (64, 48) and rgb.shape == (48, 64, 3)
    assert np.array_equal(rgb[..., 0], photo) and np.array_equal(rgb[..., 1], rgb[..., 2])
    assert rgb.mean() < 200  # not the all-white image the old loader gave


def test_still_loader_and_sequence_reader_agree(tmp_path, photo):
    """The same files through load_image and through a render's image-sequence reader."""
    folder = tmp_path / "seq"
    folder.mkdir()
    rgba = np.dstack([np.repeat(photo[..., None], 3, 2), np.where(np.arange(64) < 32, 255, 0)[None, :].repeat(48, 0)])
    Image.fromarray(_grey16(photo)).save(folder / "0.png")  # 16-bit grey
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(folder / "1.png")  # half transparent
    Image.fromarray(rgba[..., :3].astype(np.uint8)).convert("P").save(folder / "2.png")  # palette
    Image.fromarray(rgba[..., :3].astype(np.uint8)).convert("CMYK").save(folder / "3.tif")  # CMYK
    Image.fromarray(photo).save(folder / "4.png")  # 8-bit grey
    files = sorted(folder.iterdir(), key=lambda p: int(p.stem))
    with open_video(folder) as reader:
        frames = [f.image for f in reader]
    assert len(frames) == len(files)
    for f, frame in zip(files, frames):
        still = (load_image(f)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert np.array_equal(still, frame), f.name
    # transparent parts on white, stated in imread.BACKGROUND; opaque parts as they are
    assert BACKGROUND == (255, 255, 255)
    assert (frames[1][:, 32:] == 255).all() and np.array_equal(frames[1][:, :32, 0], photo[:, :32])
    assert np.array_equal(frames[0], frames[4])  # 16-bit and 8-bit versions of one photo read the same


def test_a_14000_pixel_image_is_read_reduced_not_refused(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (14000, 14000), 90).save(path, compress_level=1)
    rgb, size = read_rgb8(path)
    assert size == (14000, 14000)
    assert rgb.shape[0] * rgb.shape[1] <= REDUCE_ABOVE_PIXELS and rgb.shape[0] >= 4000
    assert (rgb == 90).all()


def test_cli_uses_16_bit_and_huge_images_as_content_and_style(cli, tmp_path, photo):
    s16, huge = tmp_path / "s16.png", tmp_path / "huge.png"
    Image.fromarray(_grey16(photo)).save(s16)
    Image.new("L", (14000, 14000), 70).save(huge, compress_level=1)
    out = tmp_path / "o.png"
    code, _, err = cli("image", s16, huge, "-o", out, "--size", "32", "--iterations", "2", "--device", "cpu", "-q")
    assert code == 0, err
    assert np.asarray(Image.open(out)).mean() < 250  # the grey content was not read as white
    code, _, err = cli("image", huge, s16, "-o", out, "--size", "32", "--iterations", "2", "--device", "cpu", "-q")
    assert code == 0 and "Traceback" not in err, err


def test_an_image_beyond_the_reduce_limit_is_one_line(cli, tmp_path):
    """A PNG whose header claims 2^31 pixels (a decompression bomb) is refused without reading it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 65536, 32768, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))  # fmt: skip
    code, _, err = cli("image", bomb, bomb, "-o", tmp_path / "o.png", "--size", "32", "--device", "cpu")
    assert code == 2 and err.count("\n") == 1 and "bomb.png" in err and "megapixels" in err, err
