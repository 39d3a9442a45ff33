"""Load / export the AGDL network weights (safetensors only, sha256-checked; never pickle).

    from agdl_models.weights import load_restorer, load_predictor, WEIGHTS_VERSION
    g = load_restorer()   # DualDomainRestorer in eval() mode, float32, CPU
    f = load_predictor()  # CriticalPixelPredictor in eval() mode

The codec records ids "agdl-g" / "agdl-f" with ``WEIGHTS_VERSION["restorer"]`` /
``WEIGHTS_VERSION["predictor"]`` in the bitstream.

A weights file may keep some or all of its tensors in sibling files named in its metadata key
``tensor_files`` (a JSON list of file names in the same folder, each sha256-checked like the file itself):
a derived version that reuses another's tensors stores only its metadata (F v4 reads F v3's tensors),
and a large file is split into shards (``python -m models.weights shard``, 6 MB each by default).
The tensors, and so the network's outputs, are the same as from one file.
"""
import argparse
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
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(_cast(model.state_dict(), dtype), str(path), metadata=_metadata(model, meta, dtype))
    write_sum(path)


def _metadata(model, meta: dict, dtype: str) -> dict[str, str]:
    """The file metadata of ``model``: hparams, arch, dtype, then ``meta`` (non-strings JSON-encoded)."""
    md = {"hparams": json.dumps(model.hparams), "arch": type(model).__name__, "dtype": dtype}
    md.update({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()})
    return md


def _cast(sd: dict, dtype: str) -> dict:
    """Floating-point tensors of ``sd`` cast to ``dtype`` ("float32" | "float16"), contiguous copies."""
    import torch
    cast = {"float32": torch.float32, "float16": torch.float16}[dtype]
    return {k: v.detach().to(cast if v.is_floating_point() else v.dtype).contiguous().clone() for k, v in sd.items()}


def export_reference(model, path, meta: dict, tensor_files: list[str], dtype: str = "float16"):
    """Write ``path`` holding only ``model``'s metadata; its tensors are read from ``tensor_files`` (names of
    sibling files). Raises ``WeightsIntegrityError`` unless those tensors are ``model.state_dict()`` cast to
    ``dtype`` exactly (a reference must not change the network)."""
    import torch
    from safetensors.torch import save_file
    path = Path(path)
    ref = _tensor_files(path, tensor_files, {}, check=True)
    sd = _cast(model.state_dict(), dtype)
    if ref.keys() != sd.keys() or any(not torch.equal(ref[k], v) for k, v in sd.items()):
        raise WeightsIntegrityError(f"{tensor_files} do not hold this model's tensors in {dtype}")
    md = _metadata(model, dict(meta, tensor_files=list(tensor_files)), dtype)
    save_file({}, str(path), metadata=md)
    write_sum(path)


def shard(path, max_bytes: int = 6 << 20) -> list[Path]:
    """Split weights file ``path`` in place: tensors beyond the first ``max_bytes`` go to sibling files
    ``{stem}.part{N}.safetensors`` (each at most ``max_bytes`` unless one tensor is larger), named in the
    metadata's ``tensor_files``. Tensors and metadata are unchanged; SHA256SUMS is updated."""
    from safetensors.torch import load_file, save_file
    path = Path(path)
    verify(path)
    md = read_metadata(path)
    if "tensor_files" in md:
        raise ValueError(f"{path} already names tensor files")
    sd = load_file(str(path))
    groups: list[dict] = [{}]
    size = 0
    for k in sorted(sd):
        n = sd[k].numel() * sd[k].element_size()
        if groups[-1] and size + n > max_bytes:
            groups.append({})
            size = 0
        groups[-1][k] = sd[k]
        size += n
    parts = [path.with_name(f"{path.stem}.part{i}.safetensors") for i in range(1, len(groups))]
    for part, g in zip(parts, groups[1:]):
        save_file(g, str(part), metadata={"part_of": path.name})
        write_sum(part)
    save_file(groups[0], str(path), metadata=dict(md, tensor_files=json.dumps([p.name for p in parts])))
    write_sum(path)
    return parts


def _tensor_files(path: Path, names, sd: dict, check: bool) -> dict:
    """``sd`` updated with the tensors of the sibling files ``names`` of ``path`` (sha256-checked)."""
    from safetensors.torch import load_file
    if not isinstance(names, list):
        raise WeightsIntegrityError(f"{path}: tensor_files must be a list of file names")
    for name in names:
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".safetensors") \
                or name == path.name:
            raise WeightsIntegrityError(f"{path}: bad tensor file name {name!r}")
        other = path.parent / name
        if check:
            verify(other)
        extra = load_file(str(other))
        if extra.keys() & sd.keys():
            raise WeightsIntegrityError(f"{path}: {name} repeats tensors {sorted(extra.keys() & sd.keys())[:3]}")
        sd.update(extra)
    return sd


def load_state(path, check: bool = True) -> dict:
    """The state dict of weights file ``path`` with the tensors of its ``tensor_files`` (sha256-checked
    when ``check``); float16 tensors as stored."""
    path = Path(path)
    if check:
        verify(path)
    return _state(path, read_metadata(path), check)


def _state(path: Path, md: dict, check: bool) -> dict:
    """Own tensors of ``path`` (already verified) plus those of the ``tensor_files`` in metadata ``md``."""
    from safetensors.torch import load_file
    try:
        names = json.loads(md.get("tensor_files", "[]"))
    except json.JSONDecodeError as e:
        raise WeightsIntegrityError(f"{path}: unreadable tensor_files: {e}") from None
    return _tensor_files(path, names, load_file(str(path)), check)


def read_metadata(path) -> dict:
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def _load(cls_name, path, check=True):
    path = Path(path)
    if check:
        verify(path)
    md = read_metadata(path)
    allowed = {"DualDomainRestorer": ("DualDomainRestorer", "MultiScaleRestorer", "LiteRestorer"),
               "CriticalPixelPredictor": ("CriticalPixelPredictor", "SaliencyEdgePredictor")}[cls_name]
    if md.get("arch") not in allowed:
        raise WeightsIntegrityError(f"{path} holds {md.get('arch')!r}, expected one of {allowed}")
    hp = json.loads(md["hparams"])
    if md["arch"] == "DualDomainRestorer":
        from .restorer import DualDomainRestorer as C
    elif md["arch"] == "MultiScaleRestorer":
        from .restorer_v2 import MultiScaleRestorer as C
    elif md["arch"] == "LiteRestorer":
        from .restorer_lite import LiteRestorer as C
    elif md["arch"] == "SaliencyEdgePredictor":
        from .saliency import SaliencyEdgePredictor as C
    else:
        from .predictor import CriticalPixelPredictor as C
    model = C(**hp)
    model.load_state_dict(_state(path, md, check), strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    model.metadata = md
    return model


def load_restorer(path=None, check=True):
    return _load("DualDomainRestorer", path or RESTORER_FILE, check)


def load_predictor(path=None, check=True):
    return _load("CriticalPixelPredictor", path or PREDICTOR_FILE, check)


def main(argv: list[str] | None = None) -> int:
    """``python -m models.weights shard PATH [--max-mb 6]``: split a weights file into shards (see ``shard``)."""
    ap = argparse.ArgumentParser(description="AGDL weights files")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("shard", help="move tensors beyond --max-mb into sibling .partN.safetensors files")
    sp.add_argument("path")
    sp.add_argument("--max-mb", type=float, default=6.0)
    a = ap.parse_args(argv)
    for p in shard(a.path, int(a.max_mb * (1 << 20))):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
