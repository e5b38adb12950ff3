"""Image decoding: odd but valid files are handled; broken or hostile ones are refused by name."""
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from konstrukt.data import check_file
from konstrukt.errors import DataError
from konstrukt.modalities.image.preprocess import load_image


def _png_header_only(path, width, height):
    """A PNG whose header claims a huge image (a decompression bomb) with almost no data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA", "1", "CMYK"])
def test_unusual_modes_become_rgb(tmp_path, mode):
    arr = (np.arange(32 * 32).reshape(32, 32) % 256).astype(np.uint8)
    img = Image.fromarray(arr).convert(mode) if mode != "I;16" else Image.fromarray(
        arr.astype(np.uint16) * 250)
    path = tmp_path / f"x.{'tif' if mode == 'CMYK' else 'png'}"
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (32, 32)


def test_sixteen_bit_keeps_contrast(tmp_path):
    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    px = np.asarray(load_image(tmp_path / "deep.png"))
    assert px.min() == 0 and px.max() == 255


def test_exif_rotation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), "red")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").size == (20, 40)


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png")).min() == 255


def test_text_file_named_jpg_is_refused_by_name(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_text("this is not an image")
    with pytest.raises(DataError, match="fake.jpg: not a readable image"):
        load_image(path)


def test_truncated_image_is_refused(tmp_path):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    img.save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.jpg"):
        load_image(tmp_path / "cut.jpg")


def test_decompression_bomb_is_refused(tmp_path):
    _png_header_only(tmp_path / "bomb.png", 40_000, 40_000)
    with pytest.raises(DataError, match="bomb.png.*decompression bomb"):
        load_image(tmp_path / "bomb.png")


def test_check_file_rejects_wrong_extension_with_a_fix(tmp_path):
    (tmp_path / "song.wav").write_bytes(b"RIFF")
    with pytest.raises(DataError, match="song.wav: an image project takes"):
        check_file("image", tmp_path / "song.wav")


def test_augmented_tensor_runs_on_one_thread_and_is_unchanged():
    """Augmenting one image runs single-threaded (speed), gives what two threads give, and leaves
    the process's thread count as it was."""
    import torch

    from konstrukt.config import build_config
    from konstrukt.modalities.image.preprocess import ImagePreprocessor
    from konstrukt.models.backbones import BACKBONES

    pre = ImagePreprocessor(BACKBONES.get("scratch_cnn"), build_config({"task": "image", "image_size": 48}))
    assert pre.augmentation is not None
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for seed in range(5):
            fast = pre.tensor(img, augment=True, seed=seed)
            assert torch.get_num_threads() == 2
            assert torch.equal(fast, pre._tensor(img, True, seed))  # the same ops on two threads
        assert not torch.equal(pre.tensor(img, augment=True, seed=0), pre.tensor(img, augment=True, seed=1))
        seen, augmentation = [], pre.augmentation
        pre.augmentation = lambda x: (seen.append(torch.get_num_threads()), augmentation(x))[1]
        pre.tensor(img, augment=True, seed=0)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
