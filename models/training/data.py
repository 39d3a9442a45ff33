"""Training data for G and F: exact Pillow JPEG base layer + fixed in-memory patch pools.

Base-layer recipe (identical to the codec's JPEG base codec):
    rgb.save(buf, "JPEG", quality=q, optimize=True)        # Pillow default 4:2:0 subsampling
    im = Image.open(buf); im.draft("YCbCr", im.size)        # no colour conversion
    y_base = channel 0 of im (uint8)
    y_orig = channel 0 of rgb.convert("YCbCr") (uint8)
    qtable = im.quantization[0]  -> 64 ints in the order Pillow returns them (DQT/zigzag order)
Networks receive ``qtable / 255`` as float32 (B, 64) in that same order.

WebP/AVIF bases (``codec="webp"``, ``"avif"`` or ``"webp+avif"``, alternating per patch), exactly as the codec's
base codecs write and read them:
    rgb.save(buf, "WEBP", quality=q, method=6)  |  rgb.save(buf, "AVIF", quality=q, speed=6)
    y_base = channel 0 of Image.open(buf).convert("RGB").convert("YCbCr")
    qtable = models.base_cond.base_cond(codec, q)   (the conditioning vector the codec derives)

Split: images of ``duts-tr`` sorted by name; the last 50 are held out for validation (never trained on).
Held-out datasets (kodak24, duts-te, human-seg, ...) are never touched here.
"""
import io
import random
from pathlib import Path

import numpy as np
from PIL import Image

from ..base_cond import base_cond

DEFAULT_ROOT = str(Path(__file__).resolve().parents[3] / "shared" / "datasets")  # ../shared beside the repository
N_VAL = 50


def _jpeg_base(rgb: Image.Image, quality: int) -> Image.Image:
    """The codec's JPEG base layer of ``rgb`` (RGB), opened and set to decode straight to YCbCr."""
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=int(quality), optimize=True)
    buf.seek(0)
    im = Image.open(buf)
    im.draft("YCbCr", im.size)
    return im


def jpeg_base_luma(rgb: Image.Image, quality: int):
    """-> (y_base uint8 HxW, y_orig uint8 HxW, qtable np.int64 (64,)) exactly as the codec does."""
    if rgb.mode != "RGB":
        rgb = rgb.convert("RGB")
    im = _jpeg_base(rgb, quality)
    qtable = np.asarray(list(im.quantization[0]), dtype=np.int64)
    y_base = np.asarray(im.getchannel(0), dtype=np.uint8).copy()
    y_orig = np.asarray(rgb.convert("YCbCr").getchannel(0), dtype=np.uint8).copy()
    return y_base, y_orig, qtable


def jpeg_base_planes(rgb: Image.Image, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 Y, Cb, Cr planes of the JPEG base layer, decoded straight to YCbCr as the codec does."""
    return np.asarray(_jpeg_base(rgb if rgb.mode == "RGB" else rgb.convert("RGB"), quality), dtype=np.uint8).copy()


LOSSY_SAVE = {"webp": ("WEBP", {"method": 6}), "avif": ("AVIF", {"speed": 6})}
# quality ranges that cover base layers of ~0.1-1.2 bpp (AGDL at 0.3-1.0 bpp; measured on Kodak/DUTS-TE)
LOSSY_QUALITY = {"webp": (1, 80), "avif": (10, 75)}


def lossy_base_luma(rgb: Image.Image, codec: str, quality: int):
    """WebP/AVIF base: (y_base uint8 HxW, y_orig uint8 HxW, cond np.int64 (64,)) exactly as the codec does."""
    if rgb.mode != "RGB":
        rgb = rgb.convert("RGB")
    fmt, kw = LOSSY_SAVE[codec]
    buf = io.BytesIO()
    rgb.save(buf, fmt, quality=int(quality), **kw)
    buf.seek(0)
    im = Image.open(buf, formats=[fmt])
    y_base = np.asarray(im.convert("RGB").convert("YCbCr"), dtype=np.uint8)[..., 0].copy()
    y_orig = np.asarray(rgb.convert("YCbCr").getchannel(0), dtype=np.uint8).copy()
    return y_base, y_orig, base_cond(codec, quality)


def base_luma(rgb: Image.Image, codec: str, quality: int):
    """``jpeg_base_luma`` for ``codec="jpeg"``, else :func:`lossy_base_luma`."""
    return jpeg_base_luma(rgb, quality) if codec == "jpeg" else lossy_base_luma(rgb, codec, quality)


def patch_codec(codec: str, i: int) -> str:
    """The codec of patch ``i`` of a pool: ``"webp+avif"`` alternates webp, avif, webp, ..."""
    names = codec.split("+")
    return names[i % len(names)]


def list_pairs(root: str = DEFAULT_ROOT, split: str = "train", extra_sod: bool = False):
    """[(image_path, mask_path)] for duts-tr (train = all but last 50 sorted, val = last 50)."""
    d = Path(root) / "duts-tr"
    imgs = sorted((d / "images").glob("*.jpg"))
    pairs = [(p, d / "masks" / (p.stem + ".png")) for p in imgs]
    pairs = [pm for pm in pairs if pm[1].exists()]
    out = pairs[:-N_VAL] if split == "train" else pairs[-N_VAL:]
    if split == "train" and extra_sod:
        s = Path(root) / "sod"
        for p in sorted((s / "images").iterdir()):
            m = s / "masks" / (p.stem + ".png")
            if m.exists():
                out.append((p, m))
    return out


def sample_quality(rng: random.Random) -> int:
    """q in 10..90, weighted to low qualities: 75 % in 10..60, 25 % in 61..90."""
    return rng.randint(10, 60) if rng.random() < 0.75 else rng.randint(61, 90)


def _offgrid_offset(rng, limit):
    """Random offset in [0, limit] that is not a multiple of 8 when possible."""
    o = rng.randint(0, max(0, limit))
    if o % 8 == 0 and limit >= 1:
        o = min(limit, o + rng.randint(1, 7))
        if o % 8 == 0:
            o = max(0, o - 1)
    return o


def make_pool(pairs, patch: int, per_image: int, seed: int, qualities=None, with_mask=False,
              flips=True, log=None, codec: str = "jpeg"):
    """Fixed pool of patches, in memory.

    Returns dict of numpy arrays: base (P,h,w) uint8, orig (P,h,w) uint8, qtable (P,64) int16,
    quality (P,) int16, and mask (P,h,w) uint8 if with_mask. Each patch is its own JPEG (grid
    aligned to the crop's (0,0), crop offset off the source's 8x8 grid).
    ``codec`` "jpeg" (default), "webp", "avif" or "webp+avif" (alternating per patch; qualities drawn
    uniformly from ``LOSSY_QUALITY`` unless ``qualities`` is given); ``qtable`` then holds the conditioning
    vector of :func:`models.base_cond.base_cond`. Pool keys as above plus ``codec`` (P,) int8 (0 jpeg,
    1 webp, 2 avif) for non-JPEG pools.
    """
    rng = random.Random(seed)
    bases, origs, qts, qs, masks, codecs = [], [], [], [], [], []
    for k, (ip, mp) in enumerate(pairs):
        img = Image.open(ip).convert("RGB")
        msk = Image.open(mp).convert("L") if with_mask else None
        W, H = img.size
        if W < patch + 1 or H < patch + 1:
            continue
        for j in range(per_image):
            x0 = _offgrid_offset(rng, W - patch)
            y0 = _offgrid_offset(rng, H - patch)
            box = (x0, y0, x0 + patch, y0 + patch)
            crop = img.crop(box)
            mc = msk.crop(box) if with_mask else None
            if flips and rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                mc = mc.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if with_mask else None
            if flips and rng.random() < 0.2:
                crop = crop.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
                mc = mc.transpose(Image.Transpose.FLIP_TOP_BOTTOM) if with_mask else None
            c = patch_codec(codec, k * per_image + j)
            if qualities:
                q = qualities[(k * per_image + j) % len(qualities)]
            elif c == "jpeg":
                q = sample_quality(rng)
            else:
                q = rng.randint(*LOSSY_QUALITY[c])
            yb, yo, qt = base_luma(crop, c, q)
            codecs.append(("jpeg", "webp", "avif").index(c))
            bases.append(yb)
            origs.append(yo)
            qts.append(qt.astype(np.int16))
            qs.append(q)
            if with_mask:
                masks.append(np.asarray(mc, dtype=np.uint8))
        if log and (k + 1) % 200 == 0:
            log(f"pool: {k + 1}/{len(pairs)} images, {len(bases)} patches")
    out = dict(base=np.stack(bases), orig=np.stack(origs), qtable=np.stack(qts),
               quality=np.asarray(qs, dtype=np.int16))
    if with_mask:
        out["mask"] = np.stack(masks)
    if codec != "jpeg":
        out["codec"] = np.asarray(codecs, dtype=np.int8)
    return out


def to_tensors(pool, idx):
    import torch
    b = torch.from_numpy(pool["base"][idx]).float().div_(255.0)[:, None]
    o = torch.from_numpy(pool["orig"][idx]).float().div_(255.0)[:, None]
    q = torch.from_numpy(pool["qtable"][idx]).float().div_(255.0)
    out = [b, o, q]
    if "mask" in pool:
        out.append(torch.from_numpy(pool["mask"][idx])[:, None] >= 128)
    return out
