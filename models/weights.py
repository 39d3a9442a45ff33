"""Load / export the AGDL network weights (safetensors only, sha256-checked; never pickle).

    from models.weights import load_restorer, load_predictor, WEIGHTS_VERSION
    g = load_restorer()   # DualDomainRestorer in eval() mode, float32, CPU
    f = load_predictor()  # CriticalPixelPredictor in eval() mode

The codec records ids "agdl-g" / "agdl-f" with ``WEIGHTS_VERSION["restorer"]`` /
``WEIGHTS_VERSION["predictor"]`` in the bitstream.
"""
import hashlib
import json
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHA_FILE = WEIGHTS_DIR / "SHA256SUMS"
WEIGHTS_VERSION = {"restorer": 1, "predictor": 1}
RESTORER_ID = "agdl-g"
PREDICTOR_ID = "agdl-f"
RESTORER_FILE = WEIGHTS_DIR / "restorer_v1.safetensors"
PREDICTOR_FILE = WEIGHTS_DIR / "predictor_v1.safetensors"


class WeightsIntegrityError(RuntimeError):
    pass


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sums(sha_file=SHA_FILE) -> dict:
    sums = {}
    p = Path(sha_file)
    if p.exists():
        for line in p.read_text().splitlines():
            parts = line.strip().split()
            if len(parts) == 2:
                sums[parts[1].lstrip("*")] = parts[0]
    return sums


def write_sum(path, sha_file=None):
    path = Path(path)
    sha_file = Path(sha_file) if sha_file else path.parent / "SHA256SUMS"
    sums = read_sums(sha_file)
    sums[path.name] = sha256_file(path)
    sha_file.write_text("".join(f"{v}  {k}\n" for k, v in sorted(sums.items())))


def verify(path, sha_file=None):
    path = Path(path)
    sha_file = Path(sha_file) if sha_file else path.parent / "SHA256SUMS"
    expected = read_sums(sha_file).get(path.name)
    if expected is None:
        raise WeightsIntegrityError(f"no sha256 recorded for {path.name} in {sha_file}")
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsIntegrityError(f"sha256 mismatch for {path}: expected {expected}, got {actual}")


def export(model, path, meta: dict, dtype: str = "float32"):
    """Save the state_dict (float32, or float16 to halve the file) + metadata (all values JSON-encoded
    strings) and update SHA256SUMS. Loading casts float16 back to float32 exactly (``load_state_dict``)."""
    import torch
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cast = {"float32": torch.float32, "float16": torch.float16}[dtype]
    sd = {k: v.detach().to(cast if v.is_floating_point() else v.dtype).contiguous().clone()
          for k, v in model.state_dict().items()}
    md = {"hparams": json.dumps(model.hparams), "arch": type(model).__name__, "dtype": dtype}
    md.update({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()})
    save_file(sd, str(path), metadata=md)
    write_sum(path)


def read_metadata(path) -> dict:
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def _load(cls_name, path, check=True):
    from safetensors.torch import load_file
    path = Path(path)
    if check:
        verify(path)
    md = read_metadata(path)
    allowed = {"DualDomainRestorer": ("DualDomainRestorer", "MultiScaleRestorer"),
               "CriticalPixelPredictor": ("CriticalPixelPredictor", "SaliencyEdgePredictor")}[cls_name]
    if md.get("arch") not in allowed:
        raise WeightsIntegrityError(f"{path} holds {md.get('arch')!r}, expected one of {allowed}")
    hp = json.loads(md["hparams"])
    if md["arch"] == "DualDomainRestorer":
        from .restorer import DualDomainRestorer as C
    elif md["arch"] == "MultiScaleRestorer":
        from .restorer_v2 import MultiScaleRestorer as C
    elif md["arch"] == "SaliencyEdgePredictor":
        from .saliency import SaliencyEdgePredictor as C
    else:
        from .predictor import CriticalPixelPredictor as C
    model = C(**hp)
    model.load_state_dict(load_file(str(path)), strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.metadata = md
    return model


def load_restorer(path=None, check=True):
    return _load("DualDomainRestorer", path or RESTORER_FILE, check)


def load_predictor(path=None, check=True):
    return _load("CriticalPixelPredictor", path or PREDICTOR_FILE, check)
