"""Open any supported photo as an upright RGB array, with errors a person can act on."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse images above this many pixels (decompression bombs); 200 MP covers any real camera.
MAX_PIXELS = 200_000_000

try:  # HEIC/HEIF support is optional
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - depends on the install
    pass


class ImageLoadError(Exception):
    """A photo could not be read; ``reason`` says why in words a person understands."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit or 32-bit greyscale: scale the real range down to 8 bits instead of clipping
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        grey = Image.fromarray(np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8))
        return grey.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # composite transparent pixels onto white, as a viewer shows them
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(path: Path | str, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read ``path`` as RGB ``uint8`` (H, W, 3) in its displayed orientation (EXIF applied).

    Raises :class:`ImageLoadError` for anything that is not a readable image.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > max_pixels:
                    raise ImageLoadError(
                        path,
                        f"image is {img.width}x{img.height} pixels, above the limit of "
                        f"{max_pixels:,}; it may be a decompression bomb",
                    )
                img.seek(0)  # first frame of animated images
                upright = ImageOps.exif_transpose(img)
                return np.ascontiguousarray(np.asarray(_to_rgb(upright)))
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except PermissionError:
        raise ImageLoadError(path, "permission denied: the file cannot be read") from None
    except IsADirectoryError:
        raise ImageLoadError(path, "is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image in a supported format, or corrupt") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(path, "image is too large (decompression bomb protection)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(path, f"image data is damaged or truncated ({exc})") from None
