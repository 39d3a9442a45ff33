#!/usr/bin/env bash
# The exact commands behind BENCHMARKS.md (2-core CPU, no GPU). Outputs go to bench_out/ (gitignored).
set -euo pipefail
D=${DATASETS:-../shared/datasets}
A=".venv/bin/agdl"
ALL=agdl,agdl-norefine,agdl-identity,agdl-classical,agdl-box,agdl-saliency,jpeg-saliency,jpeg,jpegli,webp,avif,jpeg2000,jxl
# 1. DUTS-TE (ROI = ground-truth masks), fixed subset: the first 20 images by name, 4 rate points
$A bench "$D/duts-te/images" --limit 20 --agdl-points q=10,20,30,50 --codecs "$ALL" --repeats 1 --no-progress \
    --out bench_out/duts20
# 2. Kodak24 (no masks), first 4 images (CPU time), speed medians of 3
$A bench "$D/kodak24/images" --limit 4 --agdl-points q=10,20,30,50 --threads 1 \
    --codecs agdl,agdl-norefine,jpeg,jpegli,webp,avif,jpeg2000,jxl --repeats 3 --no-progress \
    --out bench_out/kodak4
# 3. Baseline parts (issue 2's report): classical predictor + identity restorer vs JPEG
$A bench "$D/duts-te/images" --limit 20 --agdl-points q=10,30,50 --predictor edge-sobel --restorer identity \
    --codecs agdl,jpeg --repeats 3 --no-dncnn --no-progress --out bench_out/duts20_baseline
$A bench "$D/kodak24/images" --limit 8 --agdl-points q=10,30,50 --predictor edge-sobel --restorer identity \
    --codecs agdl,jpeg --repeats 3 --no-dncnn --no-progress --out bench_out/kodak8_baseline
# 4. Issue 3's range, 0.3-1.0 bpp, automatic refinement budget (BENCHMARKS §10)
$A bench "$D/duts-te/images" --limit 20 --bpp 0.3,0.5,0.75,1.0 \
    --codecs agdl,agdl-norefine,agdl-saliency,jpeg-saliency,jpeg --threads 1 --repeats 1 --no-dncnn --no-progress \
    --out bench_out/duts20_bpp
$A bench "$D/duts-te/images" --limit 20 --bpp 0.3,0.5,0.75,1.0 \
    --codecs agdl,agdl-saliency,agdl-identity,agdl-classical,agdl-box,jpeg --threads 1 --repeats 1 --no-dncnn \
    --no-rss --no-progress --out bench_out/duts20_bpp_variants
$A bench "$D/kodak24/images" --limit 4 --bpp 0.3,0.5,0.75,1.0 --codecs agdl,agdl-norefine,jpeg --threads 1 \
    --repeats 3 --no-dncnn --no-progress --out bench_out/kodak4_bpp
# 5. Saliency-aware JPEG alone vs JPEG (BENCHMARKS §9)
for d in duts-te pascal-s sod; do .venv/bin/python scripts/eval_saliency_jpeg.py --data "$D/$d" --limit 20; done
.venv/bin/python scripts/eval_saliency_jpeg.py --data "$D/duts-te" --limit 20 --oracle
# 11. Encoder decisions by measured distortion (issue 12) + identity sensing (issue 13) + G v2 (issue 14):
#     0.3-1.0 bpp, every peer bisected to AGDL's bytes; roi_weight sweep on 12 DUTS-TE / 8 Kodak images
for w in 0.75 0.5 0.25; do
  $A bench "$D/duts-te/images" --limit 12 --bpp 0.3,0.5,0.75,1.0 --codecs agdl,agdl-norefine,jpeg --roi-weight $w \
      --threads 1 --repeats 1 --no-dncnn --no-rss --no-progress --out bench_out/id_duts_w${w/./}
  $A bench "$D/kodak24/images" --limit 8 --bpp 0.3,0.5,0.75,1.0 --codecs agdl,agdl-norefine,jpeg --roi-weight $w \
      --threads 1 --repeats 1 --no-dncnn --no-rss --no-progress --out bench_out/id_kodak_w${w/./}
done
for d in duts-te sod pascal-s human-seg; do
  $A bench "$D/$d/images" --limit 100 --bpp 0.3,0.5,0.75,1.0 --codecs agdl,agdl-norefine,jpeg,webp,avif \
      --threads 1 --repeats 1 --no-dncnn --no-rss --no-progress --out bench_out/final_$d
  .venv/bin/python scripts/objective_share.py bench_out/final_$d/rows.csv --roi-weight 0.25
done
$A bench "$D/kodak24/images" --bpp 0.3,0.5,0.75,1.0 --codecs agdl,agdl-norefine,jpeg,webp,avif \
    --threads 1 --repeats 1 --no-dncnn --no-rss --no-progress --out bench_out/final_kodak24
.venv/bin/python scripts/speed_ratios.py --repeats 5 --threads 1
.venv/bin/python scripts/refinement_variants.py --limit 8
.venv/bin/python scripts/context_scales.py --data "$D" --limit 25
.venv/bin/python scripts/restorer_gain.py --data "$D/kodak24/images" --qualities 10 20 30 --versions 1 2
.venv/bin/python scripts/restorer_gain.py --data "$D/classic-test/images" --limit 100 --qualities 10 20 30 --versions 1 2
.venv/bin/python scripts/isa_drift.py --data "$D" --limit 40
# 13. Analysis from the compressed stream (issue 17), first 100 of DUTS-TE and SOD
.venv/bin/python scripts/eval_analysis.py --data "$D" --limit 100 --out bench_out/analysis100.csv
# 14. AGDL inside JPEG (issue 15), first 100 of DUTS-TE + Kodak24
.venv/bin/python scripts/eval_jpeg_container.py --data "$D" --limit 100 --json bench_out/jpeg_container100.json
# 16. Restorer for WebP and AVIF bases (issue 14 item 2): gain at equal quality, then AGDL on those bases vs the codec
.venv/bin/python scripts/restorer_gain_lossy.py --data "$D/kodak24/images" --limit 24
.venv/bin/python scripts/restorer_gain_lossy.py --data "$D/duts-te/images" --limit 100
for b in webp avif; do peer=$b; [ $b = webp ] && peer=webp-m6,webp; anchor=$b; [ $b = webp ] && anchor=webp-m6
  for s in "duts-te --limit 100" "kodak24"; do set -- $s
    $A bench "$D/$1/images" "${@:2}" --bpp 0.3,0.5,0.75,1.0 --base $b --anchor $b \
        --codecs agdl,agdl-norefine,$peer,jpeg --threads 1 --repeats 1 --no-dncnn --no-rss --no-progress \
        --out bench_out/${b}_$1
    .venv/bin/python scripts/rebd.py bench_out/${b}_$1/results.json --anchor $anchor --common
  done
done
# 20. MS-SSIM (whole image and ROI) and BD-MS-SSIM vs JPEG, WebP and AVIF (issue 32), DUTS-TE first 100;
#     the compare page of docs/compare.md
$A bench "$D/duts-te/images" --limit 100 --bpp 0.3,0.5,0.75,1.0 --codecs agdl,jpeg,webp,avif --threads 1 \
    --repeats 0 --no-dncnn --no-rss --no-progress --out bench_out/msssim_duts-te
for anchor in webp avif; do .venv/bin/python scripts/rebd.py bench_out/msssim_duts-te/results.json --anchor $anchor; done
$A compare "$D/duts-te/images/ILSVRC2012_test_00001149.jpg" --roi "$D/duts-te/masks/ILSVRC2012_test_00001149.png" \
    --bpp 0.5 -o bench_out/compare_1149 --screenshot
