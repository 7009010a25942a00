"""Opening photos: orientation, odd modes, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facenet_core.imageio import ImageLoadError, load_image


def test_exif_orientation_is_applied(tmp_path) -> None:
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.shape == (40, 20, 3)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # left half became the top


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA"])
def test_odd_modes_become_rgb(tmp_path, mode: str) -> None:
    base = Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), np.uint8))
    if mode == "I;16":
        img = Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 200)
    else:
        img = base.convert(mode)
    path = tmp_path / ("x.tiff" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (16, 16, 3)
    if mode == "I;16":
        assert out.max() == 255  # scaled, not clipped to white


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "not an image"), (b"hello, I am text", "not an image")],
)
def test_non_images_get_a_reason(tmp_path, content: bytes, reason: str) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason) as err:
        load_image(path)
    assert err.value.path == path


def test_truncated_jpeg(tmp_path, lfw_images) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(lfw_images[0].read_bytes()[:2000])
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(path)


def test_missing_file_and_bomb(tmp_path) -> None:
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    path = tmp_path / "big.png"
    Image.new("L", (3000, 3000)).save(path)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(path, max_pixels=1_000_000)


@pytest.mark.parametrize("suffix", [".bmp", ".ppm", ".tiff"])
def test_uncompressed_files_are_never_memory_mapped(tmp_path, monkeypatch, suffix: str) -> None:
    """A mapped file that another program cuts short kills the scan with SIGBUS (a CI run saw
    it): photos are decoded from bytes read in one go."""
    import mmap

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the photo was memory-mapped")

    path = tmp_path / f"flat{suffix}"
    Image.fromarray(np.full((64, 48), 90, np.uint8)).save(path)  # grey: Pillow maps these
    monkeypatch.setattr(mmap, "mmap", refuse)
    out = load_image(path)
    assert out.shape == (64, 48, 3) and int(out[0, 0, 0]) == 90


def test_a_heic_photo_is_decoded_by_the_decode_only_pi_heif(tmp_path) -> None:
    """HEIC photos open through pi-heif (no GPL encoder in the app); a truncated one is an
    ImageLoadError with a reason, never a crash."""
    from facenet_core import imageio
    from tests.core.corpus import heic_bytes

    if imageio.HEIF_DECODER is None:
        pytest.skip("no HEIF decoder installed (pip install pi-heif)")
    assert imageio.HEIF_DECODER == "pi-heif"
    arr = np.zeros((48, 64, 3), np.uint8)
    arr[:, :32] = (220, 40, 40)  # left half red, right half black
    data = heic_bytes(Image.fromarray(arr))
    if data is None:
        pytest.skip("no HEIF encoder to make the test photo (pip install pillow-heif)")
    path = tmp_path / "photo.heic"
    path.write_bytes(data)
    with Image.open(path) as opened:
        assert type(opened).__module__.startswith("pi_heif")  # the decoder under test
    out = load_image(path)
    assert out.shape == (48, 64, 3)
    assert out[:, :24, 0].mean() > 180 and out[:, 40:].mean() < 30
    broken = tmp_path / "truncated.heic"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageLoadError):
        load_image(broken)
