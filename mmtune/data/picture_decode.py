"""Picture decoding: one file's bytes to ``uint8 (R, R, 3)`` at the model's resolution.

Pillow's box filter area-resizes (on 256 -> 64 exactly the seed's ``AveragePooling2D((4,
4))``, up to uint8 rounding); 16-bit grayscale is scaled to 8 bits, other modes converted to
RGB. A file is opened without following a link and only when regular (a FIFO is refused,
never waited on), read up to :data:`MAX_PICTURE_BYTES`, and a picture over
:data:`MAX_PICTURE_PIXELS` is refused from its header. What decoding found (the bytes' hash,
size, mode, or why the file cannot be used) is a :class:`PictureInfo`.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from mmtune.errors import shown
from mmtune.file_kinds import NotAFile, open_regular, read_at_most

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "MAX_PICTURE_BYTES",
    "MAX_PICTURE_PIXELS",
    "PictureInfo",
    "decode_chunk",
    "decode_one",
    "mode_words",
]

MAX_PICTURE_BYTES = 64 * 2**20  # the competition's pictures are about 0.2 MB
MAX_PICTURE_PIXELS = 64_000_000  # 8000 x 8000


class PictureInfo(TypedDict, total=False):
    """What decoding one picture file found: its bytes' hash, its size ``[height, width]``
    and Pillow mode, or why it could not be used."""

    sha256: str
    size: list[int]
    mode: str
    error: str


def decode_chunk(paths: list[str], resolution: int) -> tuple[np.ndarray, list[PictureInfo]]:
    """Decode ``paths`` to ``uint8 (n, R, R, 3)``; runs in a worker process."""
    out = np.zeros((len(paths), resolution, resolution, 3), dtype=np.uint8)
    infos = []
    for i, path in enumerate(paths):
        info, pixels = decode_one(path, resolution)
        if pixels is not None:
            out[i] = pixels
        infos.append(info)
    return out, infos


def decode_one(path: str, resolution: int) -> tuple[PictureInfo, np.ndarray | None]:
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        # Not a symbolic link (the contract resolved every picture inside the data directory:
        # a link swapped in since is not followed), and a regular file, opened without
        # blocking (a FIFO swapped in is refused, never waited on).
        with open_regular(path, follow=False) as fh:
            raw = read_at_most(fh, MAX_PICTURE_BYTES)  # never more than the limit
    except NotAFile as exc:
        return {"error": f"is {exc}"}, None
    except OSError as exc:
        return {"error": f"cannot be read ({exc.strerror or exc})"}, None
    info: PictureInfo = {"sha256": hashlib.sha256(raw).hexdigest()}
    if len(raw) > MAX_PICTURE_BYTES:
        return {**info, "error": f"is over {MAX_PICTURE_BYTES // 2**20} MB"}, None
    if not raw:
        return {**info, "error": "is empty (0 bytes)"}, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))  # lazy: reads the header only
        with img:
            if img.width * img.height > MAX_PICTURE_PIXELS:
                return {
                    **info,
                    "error": f"is {img.width}x{img.height} pixels. Expected at most "
                    f"{MAX_PICTURE_PIXELS / 1e6:g} megapixels",
                }, None
            img.load()
            info.update({"size": [img.height, img.width], "mode": img.mode})
            rgb = _to_rgb(img)
            w, h = rgb.size
            if (w, h) == (resolution, resolution):
                small = rgb
            elif w % resolution == 0 and h % resolution == 0:
                small = rgb.reduce((w // resolution, h // resolution))  # exact box mean
            else:
                small = rgb.resize((resolution, resolution), Image.Resampling.BOX)
            pixels = np.asarray(small, dtype=np.uint8)
    except UnidentifiedImageError:
        return {**info, "error": "is not a picture Pillow can read"}, None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return {
            **info,
            "error": f"is too large to decode ({shown(str(exc), 120)}). Expected at "
            f"most {MAX_PICTURE_PIXELS / 1e6:g} megapixels",
        }, None
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower():
            reason = "the file is truncated"
        return {**info, "error": f"cannot be decoded ({shown(reason, 200)})"}, None
    return info, pixels


def _to_rgb(img: Image.Image) -> Image.Image:
    """``img`` as 8-bit RGB; 16-bit grayscale is scaled (65535 -> 255), not clipped at 255."""
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT:
        wide = np.asarray(img).astype(np.float32)
        return Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)).convert(
            "RGB"
        )
    return img.convert("RGB")


_MODE_WORDS = {
    "L": "grayscale (mode L)",
    "LA": "grayscale with alpha (mode LA)",
    "RGBA": "RGBA (alpha dropped)",
    "P": "a palette picture (mode P)",
    "1": "black and white (mode 1)",
    "CMYK": "CMYK",
    "I;16": "16-bit grayscale (scaled to 8 bits)",
    "I;16B": "16-bit grayscale (scaled to 8 bits)",
    "I;16L": "16-bit grayscale (scaled to 8 bits)",
    "I;16N": "16-bit grayscale (scaled to 8 bits)",
    "I": "integer grayscale (read as 16-bit, scaled to 8 bits)",
}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def mode_words(mode: str) -> str:
    """A Pillow mode in words, as a warning about a picture that is not RGB says it."""
    return _MODE_WORDS.get(mode, "mode " + mode)
