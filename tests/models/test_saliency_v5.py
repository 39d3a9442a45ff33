"""F v5's saliency head and its training script: shapes, augmentation, checkpoint round trip (no pickle)."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
import torch
from agdl_models.saliency_v5 import PyramidSaliencyNet, conv_macs
from safetensors import safe_open

from models.training.train_saliency_v5 import (
    RUN_DEFAULTS,
    CheckpointError,
    PairCache,
    Trainer,
    ValSet,
    load_init,
    loss_fn,
    lr_at,
    make_sample,
    plot_log,
    train,
    validate,
)

RUN = dict(width=4, side=32, batch=3, lr=2e-3, wd=1e-4, warmup=0.1, seed=0, side_weight=0.4, crop_min=0.4,
           p_webp=0.3, p_avif=0.2, hours=1.0, total_steps=8)


def _cache(n: int = 7, side: int = 40) -> PairCache:
    g = np.random.default_rng(0)
    img = g.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    mask = np.zeros((n, side, side), np.uint8)
    mask[:, 10:30, 8:25] = 255
    hw = np.array([[side, side]] * (n - 2) + [[30, side], [side, 21]], np.int32)
    return PairCache(img, mask, hw)


def test_net_shapes_side_outputs_and_bad_input():
    net = PyramidSaliencyNet(3, 8).eval()
    x = torch.rand(2, 3, 64, 48)
    with torch.inference_mode():
        y = net(x)
        outs = net(x, side_outputs=True)
    assert y.shape == (2, 1, 64, 48)
    assert len(outs) == 5 and all(o.shape == (2, 1, 64, 48) for o in outs)
    assert torch.equal(outs[-1], y)
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.rand(1, 3, 40, 40))
    with pytest.raises(ValueError):
        net(torch.rand(1, 1, 32, 32))
    # a 1x1 conv's MACs are out elements x cin: checks the counter on a known case
    assert conv_macs(torch.nn.Conv2d(3, 5, 1), torch.rand(1, 3, 4, 4)) == 5 * 16 * 3


def test_make_sample_shapes_range_and_determinism():
    c = _cache()
    h, w = c.hw[5]
    s1 = make_sample(c.img[5, :h, :w], c.mask[5, :h, :w], np.random.default_rng(3), 32, p_webp=0.5, p_avif=0.3)
    s2 = make_sample(c.img[5, :h, :w], c.mask[5, :h, :w], np.random.default_rng(3), 32, p_webp=0.5, p_avif=0.3)
    x, m = s1
    assert x.shape == (3, 32, 32) and m.shape == (1, 32, 32)
    assert float(x.min()) >= 0 and float(x.max()) <= 1 and float(m.min()) >= 0 and float(m.max()) <= 1
    assert 0 < float(m.mean()) < 1  # the mask's box survives crops of >= 40 % of the area
    assert torch.equal(s1[0], s2[0]) and torch.equal(s1[1], s2[1])


def test_lr_schedule():
    assert lr_at(0.05, 1.0, 0.1) == pytest.approx(0.5)
    assert lr_at(0.1, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(1.0, 1.0, 0.1) == pytest.approx(0.01)
    assert lr_at(0.55, 1.0, 0.1) == pytest.approx(0.505)


def _run_steps(tr: Trainer, cache: PairCache, n: int) -> list[float]:
    return [tr.train_step(cache) for _ in range(n)]


def test_checkpoint_resume_is_bit_identical_and_pickle_free(tmp_path):
    torch.set_num_threads(1)
    cache = _cache()
    ref = Trainer(RUN, len(cache))
    ref_losses = _run_steps(ref, cache, 6)  # crosses an epoch (7 pairs, batch 3)
    a = Trainer(RUN, len(cache))
    losses = _run_steps(a, cache, 3)
    p = tmp_path / "ck.safetensors"
    a.save(p)
    assert not (tmp_path / "ck.safetensors.tmp").exists()
    with open(p, "rb") as fh:
        assert b"\x80\x04" not in fh.read(16) and not p.read_bytes().startswith(b"PK")  # not a torch/pickle zip
    with safe_open(str(p), framework="pt") as fh:
        md = fh.metadata()
        assert json.loads(md["counters"])["step"] == 3 and json.loads(md["run"]) == {**RUN_DEFAULTS, **RUN}
    b = Trainer.load(p)
    assert (b.step, b.epoch, b.pos, b.seen) == (3, 1, 3, 9)
    losses += _run_steps(b, cache, 3)
    assert losses == ref_losses
    for (k, v), (k2, v2) in zip(ref.net.state_dict().items(), b.net.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    for p1, p2 in zip(ref.net.parameters(), b.net.parameters()):
        assert torch.equal(ref.opt.state[p1]["exp_avg_sq"], b.opt.state[p2]["exp_avg_sq"])


def test_fine_tune_starts_from_any_weights_file_and_resumes(tmp_path):
    """--init reads a training checkpoint, a best-model file or a predictor weights file; a resumed fine-tune keeps
    its run (init, p_crop, mae_weight) and does not reload the init weights over the trained ones."""
    from safetensors.torch import save_file

    from models.training.export_saliency_v5 import main as export_main
    from models.training.train_saliency_v5 import save_model_only
    torch.set_num_threads(1)
    cache = _cache()
    src = Trainer(RUN, len(cache))
    _run_steps(src, cache, 2)
    src.save(tmp_path / "src.safetensors")
    save_model_only(src.net, tmp_path / "best.safetensors", {"run": src.run, "step": 2})
    export_main(["--ckpt", str(tmp_path / "src.safetensors"), "--version", "9", "--dtype", "float32",
                 "--export", str(tmp_path / "predictor_v9.safetensors")])
    want = src.net.state_dict()
    for f in ("src.safetensors", "best.safetensors", "predictor_v9.safetensors"):
        sd = load_init(str(tmp_path / f))
        assert sd.keys() == want.keys() and all(torch.equal(sd[k], want[k]) for k in want), f
    run = {**RUN, "init": str(tmp_path / "predictor_v9.safetensors"), "p_crop": 0.0, "mae_weight": 1.0}
    ft = Trainer(run, len(cache))
    assert all(torch.equal(v, want[k]) for k, v in ft.net.state_dict().items())
    _run_steps(ft, cache, 2)
    ft.save(tmp_path / "ft.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "predictor_v9.safetensors"))  # the init file is not reread
    back = Trainer.load(tmp_path / "ft.safetensors")
    assert back.run == {**RUN_DEFAULTS, **run}
    assert all(torch.equal(v, back.net.state_dict()[k]) for k, v in ft.net.state_dict().items())


def test_loss_mae_term_and_uncropped_samples():
    m = torch.zeros(1, 1, 8, 8)
    m[..., 2:6, 2:6] = 1
    outs = [torch.full((1, 1, 8, 8), 0.3)] * 2
    base = loss_fn(outs, m, 0.4)
    p = torch.sigmoid(torch.tensor(0.3))
    assert float(loss_fn(outs, m, 0.4, mae_weight=2.0) - base) == pytest.approx(
        2.0 * float((p - m).abs().mean()), rel=1e-5)
    c = _cache()
    # without crops the whole mask box stays: its share of the thumbnail is the image's (17 x 20 of 40 x 40)
    fr = [float(make_sample(c.img[0], c.mask[0], np.random.default_rng(s), 32, p_crop=0.0)[1].mean())
          for s in range(4)]
    assert np.allclose(fr, 17 * 20 / 1600, atol=0.02)


def test_load_rejects_missing_and_foreign_files(tmp_path):
    from safetensors.torch import save_file
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Trainer.load(tmp_path / "none.safetensors")
    save_file({"w": torch.zeros(1)}, str(tmp_path / "w.safetensors"), metadata={"arch": "x"})
    with pytest.raises(CheckpointError, match="not an F v5"):
        Trainer.load(tmp_path / "w.safetensors")


def test_validate_and_train_loop_write_log_checkpoint_and_plot(tmp_path):
    torch.set_num_threads(1)
    cache = _cache()
    m = np.zeros((50, 60), np.float32)
    m[10:40, 20:50] = 1.0
    val = ValSet(torch.rand(4, 3, 32, 32), np.array([10, 60, 10, 60]), [m, np.zeros((50, 60), np.float32)])
    tr = Trainer(RUN, len(cache))
    v = validate(tr.net, val)
    assert set(v) == {"iou", "mae", "iou_q10", "iou_q60"} and 0 <= v["iou"] <= 1 and 0 <= v["mae"] <= 1
    assert tr.net.training  # validate restores the mode
    args = argparse.Namespace(ckpt=str(tmp_path / "ck.safetensors"), log=str(tmp_path / "log.csv"),
                              log_copy=str(tmp_path / "copy" / "log.csv"), best=str(tmp_path / "best.safetensors"),
                              max_steps=5, print_every=100, val_min=1e9, ckpt_min=1e9)
    train(tr, cache, val, args, log=lambda s: None)
    assert tr.step == 5
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["step"]) for r in rows] == [0, 5]  # validated first and at the end
    assert (tmp_path / "copy" / "log.csv").read_text() == (tmp_path / "log.csv").read_text()
    assert Trainer.load(tmp_path / "ck.safetensors").step == 5
    assert (tmp_path / "best.safetensors").exists()
    from models.training.train_saliency_v5 import prior_report
    r = prior_report(cache, val, 32, tmp_path / "best.safetensors", n_aug=5)
    assert r["val_fg"] == pytest.approx((30 * 30 / (50 * 60) + 0) / 2)
    assert 0 < r["train_fg"] < 1 and 0 < r["augmented_fg"] < 1
    assert 0 <= r["p_background"] <= 1 and 0 <= r["p_foreground"] <= 1
    summary = plot_log(tmp_path / "log.csv", tmp_path / "curve.png", ref=(0.391, 0.163))
    assert (tmp_path / "curve.png").stat().st_size > 1000 and "CPU-hours" in summary


def test_export_tiny_checkpoint_loads_as_predictor(tmp_path):
    from agdl_models import weights as W
    from agdl_models.saliency import SaliencyEdgePredictor

    from models.training.export_saliency_v5 import main as export_main
    torch.set_num_threads(1)
    cache = _cache()
    tr = Trainer(RUN, len(cache))
    _run_steps(tr, cache, 2)
    ck = tmp_path / "ck.safetensors"
    tr.save(ck)
    for dtype in ("float32", "float16"):
        out = tmp_path / dtype / "predictor_v5.safetensors"
        assert export_main(["--ckpt", str(ck), "--version", "5", "--dtype", dtype, "--export", str(out)]) == 0
        pred = W.load_predictor(out)  # sha256 checked against the SHA256SUMS written beside it
        assert isinstance(pred, SaliencyEdgePredictor) and pred.edge_pool == 3 and pred.side == 32
        assert json.loads(pred.metadata["hparams"]) == {"ch": 4, "cin": 3, "side": 32, "edge_pool": 3,
                                                        "net": "pyramid"}
        assert "--version 5" in pred.metadata["command"]
        tr.net.eval()
        x = torch.rand(1, 3, 45, 70)
        with torch.inference_mode():
            want = torch.nn.functional.interpolate(tr.net(torch.nn.functional.interpolate(
                x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)), size=(45, 70),
                mode="bilinear", align_corners=False)
            got = pred.saliency_logits(x)
            assert pred(x).shape == (1, 1, 45, 70)
        tol = 0 if dtype == "float32" else 0.05
        assert float((got - want).abs().max()) <= tol
    with pytest.raises(ValueError, match="not an F v5"):
        export_main(["--ckpt", str(tmp_path / "float32" / "predictor_v5.safetensors"), "--version", "5",
                     "--export", str(tmp_path / "x.safetensors")])


def test_saliency_edge_predictor_net_option_keeps_v2_v4_hparams():
    from agdl_models.saliency import SaliencyEdgePredictor, SaliencyNet
    v4 = SaliencyEdgePredictor(ch=16, cin=3, side=64, edge_pool=3)
    assert isinstance(v4.saliency, SaliencyNet) and "net" not in v4.hparams
    v5 = SaliencyEdgePredictor(ch=16, cin=3, side=128, edge_pool=3, net="pyramid")
    assert isinstance(v5.saliency, PyramidSaliencyNet) and v5.hparams["net"] == "pyramid"
    for bad in ({"net": "resnet", "cin": 3}, {"net": "pyramid", "cin": 1}, {"net": "pyramid", "cin": 3, "side": 72}):
        with pytest.raises(ValueError):
            SaliencyEdgePredictor(**bad)


def test_a_newer_predictor_is_registered_without_becoming_the_default(monkeypatch):
    """F v6 is shipped and pinned as the default (it won in the codec: BENCHMARKS.md §38); a later version
    shipped beside it decodes but does not change what the encoder writes until the pin moves."""
    from agdl_plugins.parts import builtin
    from agdl_plugins.parts.registry import Registry
    shipped = builtin.learned_versions()
    assert builtin.DEFAULT_VERSIONS["predictor"] == ("agdl-f", 6) and {4, 5, 6} <= set(shipped["predictor"])
    monkeypatch.setattr(builtin, "learned_versions",
                        lambda: dict(shipped, predictor=sorted({*shipped["predictor"], 7})))
    reg = Registry()
    builtin.agdl_register_parts(reg)
    assert reg.get("predictor", "agdl-f").version == 6
    assert reg.get("predictor", "agdl-f", 7).version == 7
    assert reg.get("predictor", "agdl-f", 5).version == 5  # files naming v5 keep decoding with v5
    reg2 = Registry()
    builtin.agdl_register_parts(reg2)
    reg2.set_default("predictor", "agdl-f", 5)
    assert reg2.get("predictor", "agdl-f").version == 5
    from agdl_plugins.errors import MissingPartError
    with pytest.raises(MissingPartError):
        reg2.set_default("predictor", "agdl-f", 99)


def _tiny_datasets(root):
    from PIL import Image
    g = np.random.default_rng(1)
    for sub, n, size in (("duts-tr", 3, (90, 60)), ("duts-tr-extra", 4, (40, 30)), ("duts-te", 3, (50, 40))):
        (root / sub / "images").mkdir(parents=True)
        (root / sub / "masks").mkdir()
        for i in range(n):
            Image.fromarray(g.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
                root / sub / "images" / f"im{i}.jpg")
            m = np.zeros((size[1], size[0]), np.uint8)
            m[size[1] // 4:, : size[0] // 2] = 255
            Image.fromarray(m).save(root / sub / "masks" / f"im{i}.png")


def test_cli_stop_and_resume_equals_one_run(tmp_path):
    from safetensors.torch import load_file

    from models.training.train_saliency_v5 import main
    _tiny_datasets(tmp_path / "data")

    def cli(name, *extra):
        d = tmp_path / name
        return main(["--data", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"),
                     "--ckpt", str(d / "ck.safetensors"), "--log", str(d / "log.csv"), "--log-copy", "",
                     "--best", "", "--val-range", "1", "3", "--print-every", "1000", *extra])

    run = ["--width", "4", "--side", "32", "--batch", "2", "--total-steps", "5"]
    assert cli("one", *run) == 0
    assert cli("two", *run, "--max-steps", "2") == 0
    with pytest.raises(SystemExit, match="exists"):
        cli("two", *run)
    with pytest.raises(SystemExit, match="keeps the run"):
        cli("two", "--resume", "--side", "48")
    assert cli("two", "--resume") == 0
    one, two = load_file(str(tmp_path / "one" / "ck.safetensors")), load_file(str(tmp_path / "two" / "ck.safetensors"))
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    steps = [r["step"] for r in csv.DictReader(open(tmp_path / "two" / "log.csv"))]
    assert steps == ["0", "2", "5"]


def test_eval_saliency_skip_selects_images_by_sorted_name(tmp_path):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "eval_saliency", Path(__file__).resolve().parents[2] / "scripts" / "eval_saliency.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _tiny_datasets(tmp_path)
    names = [p.stem for p, _ in mod.pairs_for(str(tmp_path / "duts-te"), None, 1)]
    assert names == ["im1", "im2"]
    assert [p.stem for p, _ in mod.pairs_for(str(tmp_path / "duts-te"), 1, 1)] == ["im1"]


def test_log_mirror_keeps_history_on_a_new_machine(tmp_path) -> None:
    """A resume where runs/ is empty (a new machine) appends to the committed log copy's history instead of
    replacing it with the new rows only (what happened once: 10 validations lost from f5_log.csv)."""
    from models.training.runlog import append_log
    from models.training.train_saliency_v5 import LOG_FIELDS

    mirror = tmp_path / "ckpt" / "log.csv"
    append_log(tmp_path / "old_run" / "log.csv", {"step": 1}, LOG_FIELDS, mirror)
    append_log(tmp_path / "old_run" / "log.csv", {"step": 2}, LOG_FIELDS, mirror)
    append_log(tmp_path / "new_machine" / "log.csv", {"step": 3}, LOG_FIELDS, mirror)  # runs/ log missing here
    lines = mirror.read_text().splitlines()
    assert lines[0] == ",".join(LOG_FIELDS)
    assert [ln.split(",")[1] for ln in lines[1:]] == ["1", "2", "3"]
