"""Where the encoder's free choices are searched (base quality, refinement budget, step): see :mod:`.rdo`.

* Fixed ``quality``: the base layer is written at that quality; the refinement (budget, possibly none, and
  step) minimises ``D + lambda * R``, where ``lambda`` is the base codec's own marginal return at that
  quality on this image (distortion saved per byte from ``quality`` to ``quality + 5``), so refinement bytes
  are spent only where they buy more than the same bytes of base quality would. One G run.
* ``target_bpp``: minimise D subject to the pixel layers' size (base + refinement + alpha + container;
  EXIF/ICC/XMP ride on top) landing within 3 % of the target. The largest base quality that fits alone
  (``q_alone``, found by a secant search over the base's sizes) and the qualities below it are ranked with a
  proxy (the decoded base standing in for G), coarse to fine: first all on the critical sets of one F run (F's
  scores on ``q_alone``'s base), then the :data:`PROXY_FINALISTS` best again on F's scores on their own base
  (F runs on at most three bases, not on every one). G runs on ``q_alone`` and on the proxy's best quality
  only (at most two G runs) and the exact distortions decide. The winner's step is tuned on the real coder to
  land on the rate (its measurements sensed once); a winner without refinement that lands more than 3 % under
  the target (integer base qualities are coarse at low rates) gets a fractional base quality instead (JPEG
  bases: IJG-scaled tables).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from agdl_plugins.codec import sampling as S
from agdl_plugins.codec.encoder import (
    Analysis,
    Prepared,
    analyse,
    base_codec_id,
    check_parts,
    default_parts,
    finish,
    prepare,
    roi_map,
    with_roi,
)
from agdl_plugins.codec.rdo import (
    FRACTIONS,
    STEPS,
    Candidate,
    CriticalSets,
    QualityEvaluator,
    best_for_lambda,
    best_under_rate,
    pixel_weights,
    weighted_err2,
)
from agdl_plugins.codec.roi import TransmittedRoi
from agdl_plugins.errors import RateUnreachableError
from agdl_plugins.imaging import luma_plane, split_alpha, ycbcr_planes
from agdl_plugins.options import EncodeOptions
from agdl_plugins.parts import protocols as P
from agdl_plugins.parts.registry import Registry

RATE_TOLERANCE = 0.03
PROXY_FRACTIONS = (0.03, 0.1, 0.3)
PROXY_STEPS = (8.0, 16.0, 32.0)
PROXY_QUALITY_FACTORS = (0.8, 0.6, 0.45, 0.3)
#: base qualities the coarse proxy ranking (one F run's critical sets) passes to the fine one (F per quality):
#: the coarse ranking's best two held the fine ranking's best on DUTS-TE 20 x 4 rates (BENCHMARKS.md §29)
PROXY_FINALISTS = 2
#: interpolated probes of :meth:`_Search.largest_alone` before it halves the bracket instead
SECANT_PROBES = 6


class _Search:
    def __init__(self, im: Image.Image, color: Image.Image, alpha: np.ndarray | None, opts: EncodeOptions,
                 reg: Registry, share: _Search | None = None, weights: np.ndarray | None = None,
                 pixels: int | None = None) -> None:
        """``share``: a search on the same image whose original planes, objective weights and ``pixels`` this one
        reuses; ``weights``: (H, W) objective weights to use instead of computing them, and ``pixels``: the size
        the default parts are chosen for, instead of ``im``'s (a sample's search: the whole image's weights cut to
        the sample, and its size, :mod:`agdl_plugins.codec.sampling`)."""
        self.im, self.color, self.alpha, self.opts, self.reg = im, color, alpha, opts, reg
        self.pixels = im.width * im.height if pixels is None else pixels
        if share is not None:  # one saliency run and one copy of the original: none depends on the base
            self.planes, self.y, weights, self.pixels = share.planes, share.y, share.weights(), share.pixels
        else:
            self.planes = ycbcr_planes(color)  # (H, W) or (H, W, 3) uint8: the original as F's saliency reads it
            self.y = luma_plane(self.planes).astype(np.float64)
        self.analyses: dict[int, Analysis] = {}
        self.fixed: dict[int, int] = {}
        self.evals: dict[tuple[int, bool, int], QualityEvaluator] = {}
        self.sets: dict[int, CriticalSets] = {}
        self.preps: dict[tuple[int, float], Prepared] = {}
        self._weights: np.ndarray | None = weights

    # --- shared pieces -------------------------------------------------------------------------------
    def analysis(self, q: int) -> Analysis:
        if q not in self.analyses:
            a = analyse(self.color, self.opts, self.reg, q, self.pixels)
            if self.opts.restorer is None and a.restorer.id != "identity":  # a restorer the user did not name
                a.keep_restorer, a.plain = self.restorer_helps, self.reg.get("restorer", "identity")
            self.analyses[q] = a
        return self.analyses[q]

    def restorer_helps(self, ref: np.ndarray, base_luma: np.ndarray) -> bool:
        """Keep the restorer on this base only if its (rounded) output lowers the objective below the base
        layer's own; otherwise the file names ``identity``. A guarantee (no file worse than its base codec
        alone on the objective), rarely used on real photos: the 1 dB losses first blamed on the WebP/AVIF
        restorer were the decoder's chroma round trip (BENCHMARKS.md §16)."""
        w = self.weights()
        d_g = float(weighted_err2(w, self.y, ref).sum())
        d_b = float(weighted_err2(w, self.y, base_luma).sum())
        return d_g < d_b

    def decide_restorer(self, q: int) -> None:
        """Judge the restorer of the file about to be written at ``q`` (one restorer run if not done yet)."""
        if self.analysis(q).restorer_pending:
            self.analysis(q).reference()

    def prep(self, q: int, f: float) -> Prepared:
        a = self.analysis(q)
        p = self.preps.get((q, f))
        if p is None or p.restorer is not a.restorer:  # built before the restorer was judged: rebuild
            p = self.preps[(q, f)] = prepare(self.color, self.opts, self.reg, q, f, a, self.weights())
        return p

    def keep_only(self, q: float | None) -> None:
        """Drop what the search holds for every base quality but ``q`` (None: all of them), network runs
        included; anything needed again is recomputed, the same. ``base="auto"`` calls it on the bases it is done
        with."""
        self.analyses = {k: v for k, v in self.analyses.items() if k == q}
        self.sets = {k: v for k, v in self.sets.items() if k == q}
        self.evals = {k: v for k, v in self.evals.items() if k[0] == q}
        self.preps = {k: v for k, v in self.preps.items() if k[0] == q}

    def file(self, q: int, f: float, step: float, metadata: dict) -> bytes:
        return finish(self.prep(q, f), self.color, self.alpha, self.im.mode, self.opts, self.reg, step, metadata)

    def fixed_bytes(self, q: int) -> int:
        """Size of the pixel layers with no refinement (base + alpha + header + container), no metadata."""
        if q not in self.fixed:
            self.fixed[q] = len(self.file(q, 0.0, 16.0, {}))
        return self.fixed[q]

    def weights(self) -> np.ndarray:
        if self._weights is None and roi_map(self.opts) is not None:  # the user's ROI in place of F's saliency
            self._weights = pixel_weights(roi_map(self.opts), self.y.shape, self.opts.roi_weight)
        if self._weights is None:
            pred = self.reg.get("predictor", self.opts.predictor or default_parts(self.reg, self.opts.base)[0])
            sal = P.predict_saliency(pred, self.planes, resolve(self.opts))
            self._weights = pixel_weights(sal, self.y.shape, self.opts.roi_weight)
        return self._weights

    def critical_sets(self, q: int) -> CriticalSets:
        """The critical sets of F's scores on the base at quality ``q`` (F runs once per quality)."""
        if q not in self.sets:
            a = self.analysis(q)
            self.sets[q] = CriticalSets(a.scores(), a.predictor.exact, desc=a.sorted_scores)
        return self.sets[q]

    def evaluator(self, q: int, proxy: bool = False, scores_at: int | None = None) -> QualityEvaluator:
        """The evaluator of base quality ``q``: exact (G's output on that base, F's scores on it), or with
        ``proxy`` the decoded base standing in for G and the critical sets of F's scores on the base at
        ``scores_at`` (default ``q``). Proxies only rank base qualities (:meth:`to_rate`): one F run's sets rank
        them all coarsely, and the finalists are ranked again on their own F scores (BENCHMARKS.md §29)."""
        key = (q, proxy, q if scores_at is None or not proxy else scores_at)
        if key not in self.evals:
            a = self.analysis(q)
            ref = a.base.luma if proxy else a.reference()  # uint8 / float32: the evaluator promotes what it uses
            sets = self.critical_sets(key[2])
            sensing = self.reg.get("sensing", self.opts.sensing)
            self.evals[key] = QualityEvaluator(
                q, self.y, ref, sets.scores, sets.exact, self.weights(), sensing, self.opts.seed,
                self.opts.measurement_ratio, self.fixed_bytes(q), self.opts.quantiser, sets)
        return self.evals[key]

    def space(self) -> tuple[tuple[float, ...], tuple[float, ...], bool]:
        """(fractions, steps, alone allowed) the user left free."""
        f = self.opts.critical_fraction
        fracs = FRACTIONS if f is None else ((f,) if f > 0 else ())
        steps = STEPS if self.opts.step is None or self.opts.target_bpp is not None else (self.opts.step,)
        return fracs, steps, f is None or f == 0

    @staticmethod
    def fitting(ev: QualityEvaluator, target: float, fracs, steps, alone: bool) -> Candidate | None:
        return best_under_rate(ev.fitting(target, fracs, [float(np.float32(s)) for s in steps], alone), target)

    # --- fixed quality -------------------------------------------------------------------------------
    def base_lambda(self, q: int, ev: QualityEvaluator) -> float:
        """Distortion saved per byte by raising the base quality from q (G's share of the error applied)."""
        q2 = q + 5 if q <= 95 else q - 5
        w = self.weights()

        def d_base(qq: int) -> float:
            return float((w * (self.y - self.analysis(qq).base.luma) ** 2).sum())

        d1, d2 = d_base(q), d_base(q2)
        r1, r2 = self.fixed_bytes(q), self.fixed_bytes(q2)
        slope = abs(d1 - d2) / max(abs(r2 - r1), 1)
        return slope * (ev.d_alone / d1 if d1 > 0 else 1.0)

    def at_quality(self) -> Candidate:
        q = self.opts.quality
        ev = self.evaluator(q)
        fracs, steps, alone = self.space()
        cands = ev.grid(fracs, [float(np.float32(s)) for s in steps], alone)
        return best_for_lambda(cands, self.base_lambda(q, ev))

    # --- target rate ---------------------------------------------------------------------------------
    def target_bytes(self) -> float:
        return self.opts.target_bpp * self.im.width * self.im.height / 8.0

    def largest_alone(self, target: float) -> int:
        """The largest base quality in 1..95 whose file fits ``target`` bytes with no refinement (1 if none
        does), the file's size being monotone in the quality.

        A bracketed secant search: the next quality probed is where the log-size, linear through the last two
        probes, meets ``target`` (sizes grow about exponentially with the quality), kept strictly inside the
        bracket; after :data:`SECANT_PROBES` guesses it halves the bracket instead. Each probe is a base encode
        of the whole image: 4.5 on average where a plain bisection of 2..95 takes 6.6, with the same answer
        (270 size curves of DUTS-TE/Kodak images x JPEG/WebP/AVIF x 9 rates, BENCHMARKS.md §29).
        """
        if self.fixed_bytes(1) > target:
            return 1
        lo, hi = 1, 96  # fixed_bytes(lo) <= target < fixed_bytes(hi); 96 stands for "too big", never probed
        last, q, guesses = 1, 48, 0
        while True:
            if self.fixed_bytes(q) <= target:
                lo = q
            else:
                hi = q
            if hi - lo <= 1 or lo == 95:
                return lo
            la, lq = np.log(self.fixed_bytes(last)), np.log(self.fixed_bytes(q))
            slope = (lq - la) / (q - last)
            last = q
            if guesses >= SECANT_PROBES or slope <= 0:
                q = (lo + hi) // 2
                continue
            guesses += 1
            q = int(np.clip(np.floor(last + (np.log(target) - lq) / slope), lo + 1, hi - 1))

    def probe(self, target: float, proxy: bool = False) -> float:
        """The objective this base reaches at ``target`` bytes, cheaply: the refinement on the proxy grid at the
        largest base quality that fits alone, over G's output (one G run) or, with ``proxy``, over the decoded
        base itself (no network but F). What ``base="auto"`` compares bases by."""
        q = self.largest_alone(target)
        if self.fixed_bytes(q) > target * (1 + RATE_TOLERANCE):
            return float("inf")
        fracs, _, alone = self.space()
        pf = tuple(f for f in PROXY_FRACTIONS if f in fracs) or fracs
        ev = self.evaluator(q, proxy=proxy)
        c = self.fitting(ev, target, pf, PROXY_STEPS, alone) if pf else None
        return c.distortion if c is not None else ev.alone().distortion

    def to_rate(self) -> tuple[Candidate, float]:
        im = self.im
        target = self.target_bytes()
        smallest = self.fixed_bytes(1)
        if smallest > target * (1 + RATE_TOLERANCE):
            bpp = smallest * 8 / (im.width * im.height)
            raise RateUnreachableError(
                f"target_bpp={self.opts.target_bpp} is below the smallest size of this image's pixel layers: "
                f"{bpp:.3f} bpp (base quality 1, no refinement); raise target_bpp (EXIF/ICC/XMP are not counted "
                "in the target)", bpp)
        q_alone = self.largest_alone(target)
        self.q_alone = q_alone
        fracs, steps, alone = self.space()
        if not fracs:  # no refinement asked for: nothing to weigh, no network to run
            return Candidate(q_alone, 0.0, 0.0, float(self.fixed_bytes(q_alone)), float("nan")), target
        qs = sorted({q_alone} | {max(1, round(q_alone * k)) for k in PROXY_QUALITY_FACTORS})
        pf = tuple(f for f in PROXY_FRACTIONS if f in fracs) or fracs
        # coarse: every quality's proxy on the critical sets of F's scores at q_alone (one F run). One proxy
        # evaluator alive at a time (each holds full-size planes), and what only a quality already out of the
        # running needed is released as soon as it is (recomputed, the same, if used again)
        rough: dict[int, Candidate] = {}

        def prune(ranked: dict[int, Candidate], keep: int, done: list[int]) -> set[int]:
            lead = set(sorted(ranked, key=lambda q: ranked[q].distortion)[:keep]) | {q_alone}
            for q in done:
                if q not in lead:
                    self.sets.pop(q, None)
                    self.analyses[q].release()
            return lead

        for i, q in enumerate(qs):
            c = self.fitting(self.evaluator(q, proxy=True, scores_at=q_alone), target, pf, PROXY_STEPS, alone)
            del self.evals[(q, True, q_alone)]
            if c is not None:
                rough[q] = c
            finalists = prune(rough, PROXY_FINALISTS, qs[: i + 1])
        # fine: the PROXY_FINALISTS best again on F's scores on their own base
        proxy: dict[int, Candidate] = {}
        done: list[int] = []
        for q in qs:
            if q in rough and q in finalists:
                if q == q_alone:  # its coarse proxy already ran on its own F scores: the same candidate
                    proxy[q] = rough[q]
                else:
                    c = self.fitting(self.evaluator(q, proxy=True), target, pf, PROXY_STEPS, alone)
                    del self.evals[(q, True, q)]
                    if c is not None:
                        proxy[q] = c
                done.append(q)
                prune(proxy, 1, done)
        q_r = min(proxy, key=lambda q: proxy[q].distortion) if proxy else q_alone
        best: Candidate | None = None
        for q in sorted({q_alone, q_r}):
            near = _near(fracs, proxy[q].fraction) if q in proxy else fracs
            c = self.fitting(self.evaluator(q), target, near, steps, alone)
            if c is not None and (best is None or c.distortion < best.distortion):
                best = c
        if best is None:  # nothing fits below the target: the smallest refinement at base quality 1
            best = min(self.evaluator(1).grid(fracs, steps[-1:], False), key=lambda c: c.rate)
        if best.fraction == 0:  # fill the bytes left by the base's quality steps with a refinement
            fill = self.fitting(self.evaluator(best.quality), target, fracs[:4], steps, False)
            if fill is not None:
                best = fill
        return best, target

    def fill_base(self, q: int, target: float) -> float:
        """A refinement-free file more than RATE_TOLERANCE under ``target`` (the base's integer quality steps
        are coarse at low rates): bisect a fractional base quality in (q, q + 1) whose file fits within the
        tolerance, for base codecs that take one (JPEG). Only base bytes move; no network runs."""
        if not P.fractional_quality(self.analysis(q).codec) or q >= 100:
            return q
        if self.fixed_bytes(q) >= target * (1 - RATE_TOLERANCE):
            return q
        lo, hi, best = float(q), float(q + 1), float(q)
        for _ in range(10):
            mid = (lo + hi) / 2.0
            n = self.fixed_bytes(mid)  # type: ignore[arg-type]
            if n > target:
                hi = mid
                continue
            best, lo = mid, mid
            if n >= target * (1 - RATE_TOLERANCE):
                break
        return best

    def tune_step(self, c: Candidate, target: float) -> float:
        """Step (log-bisection on the real coder) putting the file within RATE_TOLERANCE of ``target``."""
        if c.fraction == 0:
            return 16.0
        size = {}

        def n(step: float) -> int:
            step = float(np.float32(step))
            if step not in size:
                size[step] = len(self.file(c.quality, c.fraction, step, {}))
            return size[step]

        s_lo, s_hi = c.step / 2.0, c.step * 2.0
        while n(s_lo) < target and s_lo > 0.05:
            s_lo /= 2.0
        while n(s_hi) > target and s_hi < 4096:
            s_hi *= 2.0
        for _ in range(20):
            fits = [s for s, v in size.items() if abs(v - target) <= RATE_TOLERANCE * target and v <= target]
            if fits:
                return min(fits)
            mid = float(np.sqrt(s_lo * s_hi))
            if n(mid) > target:
                s_lo = mid
            else:
                s_hi = mid
        return min(size, key=lambda s: abs(size[s] - target))


def _near(fracs: tuple[float, ...], f0: float, reach: float = 2.5) -> tuple[float, ...]:
    """The budgets within a factor ``reach`` of the proxy's choice (the smallest ones when it chose none)."""
    if f0 <= 0:
        return fracs[:3]
    return tuple(f for f in fracs if f0 / reach <= f <= f0 * reach) or fracs


def resolve(opts: EncodeOptions) -> str:
    from agdl_plugins.parts.engine import resolve_device

    return resolve_device(opts.device)


def decide(s: _Search) -> tuple[float, float, float, float]:
    """The search's decisions for its image: (base quality, refinement fraction, step, objective D).

    The quality is fractional only for a refinement-free JPEG file filled up to the budget
    (:meth:`_Search.fill_base`); D is then the objective at the integer quality below it (an upper bound).
    """
    if s.opts.target_bpp is None:
        c = s.at_quality()
        return c.quality, c.fraction, (c.step if c.fraction else 16.0), c.distortion
    c, target = s.to_rate()
    step = s.tune_step(c, target)
    if c.fraction:
        d = c.distortion
        if s.space()[2]:  # the tuned step moved D: G alone stays the fallback if it is better
            tuned = s.evaluator(c.quality).evaluate(c.fraction, float(np.float32(step)))
            alone = s.evaluator(s.q_alone).alone()
            c, d = (alone, alone.distortion) if alone.distortion < tuned.distortion else (c, tuned.distortion)
        if c.fraction:
            return c.quality, c.fraction, step, d
    return s.fill_base(c.quality, target), 0.0, 16.0, c.distortion


def search(im: Image.Image, color: Image.Image, alpha: np.ndarray | None, opts: EncodeOptions, reg: Registry,
           metadata: dict[str, bytes | None], s: _Search | None = None,
           decided: tuple[float, float, float, float] | None = None) -> bytes:
    """Encode ``im`` with the decisions that minimise the user's distortion (see module docstring).

    ``s``: a search already started on this image (its base layers and network runs are reused);
    ``decided``: :func:`decide`'s result for ``s`` when the caller already has it.
    """
    s = s if s is not None else _Search(im, color, alpha, opts, reg)
    q, f, step, _ = decided if decided is not None else decide(s)
    s.decide_restorer(q)  # type: ignore[arg-type]
    return s.file(q, f, step, metadata)  # type: ignore[arg-type]


def encode_image(
    im: Image.Image, opts: EncodeOptions, reg: Registry, metadata: dict[str, bytes | None]
) -> bytes:
    """Encode a PIL image (L, RGB, LA, RGBA) with validated options: the encoder's one entry point.

    With both ``critical_fraction`` and ``step`` given (or ``critical_fraction=0``) at a fixed ``quality``
    nothing is left to decide: the file is written as asked (the encoder's steps, :mod:`agdl_plugins.codec.encoder`).
    Otherwise the free choices (base quality under ``target_bpp``, refinement budget including none, quantiser
    step) minimise the user's distortion (:func:`search`): this module owns the decisions, the encoder the steps.
    """
    check_parts(opts, reg)
    opts = with_roi(opts, im.size)
    color, alpha = split_alpha(im)
    fixed = opts.critical_fraction is not None and (opts.step is not None or opts.critical_fraction == 0)
    if opts.base == AUTO and opts.target_bpp is None and fixed:
        # every decision given: nothing to weigh the bases by, and ``quality`` is a JPEG quality
        opts = replace(opts, base=AUTO_FIXED_BASE)
    if opts.target_bpp is not None and alpha is None and S.sampled(im.width, im.height):
        return encode_sampled(im, color, opts, reg, metadata)
    if opts.base == AUTO:
        return encode_auto(im, color, alpha, opts, reg, metadata)
    if opts.target_bpp is None and fixed:
        prep = prepare(color, opts, reg, opts.quality)
        return finish(prep, color, alpha, im.mode, opts, reg, opts.step or 16.0, metadata)
    return search(im, color, alpha, opts, reg, metadata)


# --- base="auto": the base codec chosen per image by the same objective -----------------------------------------

#: the value of ``base`` that lets the encoder choose
AUTO = "auto"
#: the bases ``base="auto"`` weighs, in this order (a tie keeps the earlier one)
AUTO_BASES = ("jpeg", "webp", "avif")
#: what ``base="auto"`` writes when the options leave nothing to decide (a fixed ``quality``, ``critical_fraction``
#: and ``step``, or ``critical_fraction=0``): the JPEG base at that quality, the file the user described
AUTO_FIXED_BASE = "jpeg"
#: how many of them (the best by their base layers alone) are probed with G before choosing
AUTO_G_PROBES = 2
#: finalists whose G probes are within this fraction of the best one's are both searched in full. Infinite: the
#: probe (one G run at the largest base quality that fits alone, a coarse grid) misranked WebP and AVIF by up to
#: 48 % on DUTS-TE, so both finalists always get the full search (0 of 120 image-points below the best single
#: base, vs 1 of 80 at 5 % and 2 of 40 at 10 %; BENCHMARKS.md §32)
AUTO_CLOSE = float("inf")


def auto_bases(reg: Registry) -> list[str]:
    """The bases ``base="auto"`` can use here: registered and readable/writable by the running Pillow."""
    return [b for b in AUTO_BASES if reg.has("base_codec", b) and reg.get("base_codec", b).available()]


def encode_auto(im: Image.Image, color: Image.Image, alpha: np.ndarray | None, opts: EncodeOptions,
                reg: Registry, metadata: dict[str, bytes | None]) -> bytes:
    """``base="auto"``: the file of the base :func:`choose_base` chooses, written with its search's decisions."""
    chosen, decided, note = choose_base(im, color, alpha, opts, reg)
    return search(im, color, alpha, chosen.opts, reg, {**metadata, BASE_CHOICE_KEY: note}, s=chosen,
                  decided=decided)


def choose_base(im: Image.Image, color: Image.Image, alpha: np.ndarray | None, opts: EncodeOptions,
                reg: Registry, weights: np.ndarray | None = None, pixels: int | None = None
                ) -> tuple[_Search, tuple[float, float, float, float] | None, dict[str, float | None]]:
    """``base="auto"``'s choice: (the chosen base's search, its :func:`decide` result when it was searched in full
    (else None), the objective per base for the file's ``agdl_base_choice`` note). ``weights``, ``pixels``: as
    :class:`_Search`'s.

    Rank every base at the byte budget by its base layer alone (:meth:`_Search.probe` with
    ``proxy``: base encodes and F, no G), probe the :data:`AUTO_G_PROBES` best with G (one run each), then run the
    full search on the winner only, reusing its probe's work — or on both finalists when their probes are within
    :data:`AUTO_CLOSE` of each other, and then the two searches' own objectives decide.

    The budget is ``target_bpp``'s; without it, the bytes the JPEG base alone takes at ``quality`` (so
    ``quality`` keeps meaning "about this many bytes"). The objective per base is written in the file
    (``agdl_base_choice`` in ``read_info``: weighted MSE per pixel; None for a base the first ranking ruled out or
    that cannot meet the budget; a fully searched base's value is its search's objective, not its probe's).
    """
    bases = auto_bases(reg)
    if not bases:
        raise ValueError(f"base='auto' found none of {AUTO_BASES} usable in this Pillow")
    px = im.width * im.height
    if opts.target_bpp is None:
        jpeg = _Search(im, color, alpha, replace(opts, base="jpeg"), reg)
        budget = jpeg.fixed_bytes(opts.quality) * 8.0 / px
    else:
        budget = opts.target_bpp
    first = _Search(im, color, alpha, replace(opts, base=bases[0], target_bpp=budget), reg, weights=weights,
                    pixels=pixels)
    searches = {b: _Search(im, color, alpha, replace(opts, base=b, target_bpp=budget), reg, share=first)
                if b != bases[0] else first for b in bases}
    target = first.target_bytes()
    # the base layers alone rank the bases (no G); G then runs on the AUTO_G_PROBES best only
    rough = {b: s.probe(target, proxy=True) for b, s in searches.items()}
    finalists = sorted(bases, key=lambda b: (rough[b], bases.index(b)))[:AUTO_G_PROBES]
    for b in bases:
        if b not in finalists:
            searches[b].keep_only(None)
    objective = {b: searches[b].probe(target) if b in finalists else float("nan") for b in bases}
    ranked = sorted(finalists, key=lambda b: (objective[b], bases.index(b)))
    # the probe (one G run, a coarse grid) cannot be trusted to rank close finalists the way their full searches
    # would, so those run in full and their exact objectives decide (BENCHMARKS.md §22, §32)
    close = [b for b in ranked if np.isfinite(objective[b]) and objective[b] <= objective[ranked[0]] * (1 + AUTO_CLOSE)]
    decided: dict[str, tuple[float, float, float, float]] = {}
    if len(close) > 1:
        for b in close:  # one full search at a time: each keeps only the quality its file would be written at
            decided[b] = decide(searches[b])
            searches[b].keep_only(decided[b][0])
            objective[b] = decided[b][3]
    best = min(decided, key=lambda b: (decided[b][3], bases.index(b))) if decided else ranked[0]
    note = {b: (d / px if np.isfinite(d) else None) for b, d in objective.items()}
    return searches[best], decided.get(best), note


#: ``metadata`` key under which the search hands :func:`agdl_plugins.codec.encoder.finish` the base choice
BASE_CHOICE_KEY = "base_choice"


# --- large images: decided on a sample of their tiles -----------------------------------------------------------

def encode_sampled(im: Image.Image, color: Image.Image, opts: EncodeOptions, reg: Registry,
                   metadata: dict[str, bytes | None]) -> bytes:
    """A ``target_bpp`` encode of an image above :data:`~agdl_plugins.codec.sampling.SAMPLE_ABOVE` pixels (no
    alpha): the search (``base="auto"``'s choice included) runs on a mosaic of the image's tiles
    (:mod:`agdl_plugins.codec.sampling`) at the same bits per pixel, with the objective weights cut from the
    whole image's; the whole image is then written with its base codec, refinement budget and step, the base
    quality moved (:func:`~agdl_plugins.codec.sampling.nearest_fit`) to the largest whose layer leaves the
    sample's share of refinement bytes, and the step tuned on the real coder to land on the byte budget.
    The sample's verdict on the restorer (:meth:`_Search.restorer_helps`) stands. On the whole image: one
    saliency run, a fast encode where the base codec has one (``size_hint``: AVIF) to correct the sample's quality,
    one to three base encodes (one when that quality fits), and F and G once each when there is a refinement
    (neither when there is none).
    """
    whole = _Search(im, color, None, opts, reg)
    rows, cols, origins = S.tile_origins(im.height, im.width)

    def cut(a: np.ndarray) -> np.ndarray:
        return S.gather(a, rows, cols, origins)

    s_color = Image.fromarray(cut(np.asarray(color)), color.mode)
    s_opts = opts if roi_map(opts) is None else replace(opts, roi=TransmittedRoi(opts.roi.record,
                                                                               cut(roi_map(opts))))
    note, px = None, im.width * im.height  # the sample's default parts are the whole image's (LITE_ABOVE)
    if opts.base == AUTO:
        s, decided, note = choose_base(s_color, s_color, None, s_opts, reg, weights=cut(whole.weights()), pixels=px)
    else:
        s, decided = _Search(s_color, s_color, None, s_opts, reg, weights=cut(whole.weights()), pixels=px), None
    q_s, f, step, d = decided if decided is not None else decide(s)
    q0 = int(q_s)
    scale = im.width * im.height / (s_color.width * s_color.height)
    refinement = (len(s.file(q0, f, step, {})) - s.fixed_bytes(q0)) * scale if f else 0.0
    s.decide_restorer(q0)  # the sample's verdict on the restorer stands for the whole image (no G run to judge it)
    full = _Search(im, color, None, replace(opts, base=s.opts.base, restorer=s.analysis(q0).restorer.id), reg,
                   share=whole)
    target = full.target_bytes()
    budget = target - refinement

    def guide(k: int) -> float:  # the sample's own sizes: cheap, and they rise in the same steps
        return float(s.fixed_bytes(min(max(k, 1), 95)))

    hint = getattr(reg.get("base_codec", base_codec_id(full.opts)), "size_hint", None)
    whole_hint, sample_hint = (hint(color, q0), hint(s_color, q0)) if hint is not None else (None, None)
    if whole_hint and sample_hint:  # the sample's quality is off by its tile seams: a fast encode of both says how
        q0 = S.start_quality(guide, budget, q0, whole_hint / sample_hint)
    q = S.nearest_fit(full.fixed_bytes, budget, q0, guide)
    if full.fixed_bytes(q) > target * (1 + RATE_TOLERANCE):  # even the smallest base does not fit: say why
        return search(im, color, None, full.opts, reg, metadata, s=full)
    if not f and full.fixed_bytes(q) < target * (1 - RATE_TOLERANCE):  # what the base leaves: a refinement,
        fracs, steps, _ = full.space()  # as the whole-image search fills it (one F and one G run)
        fill = full.fitting(full.evaluator(q), target, fracs[:4], steps, False) if fracs else None
        if fill is not None:
            f, step = fill.fraction, fill.step
    if f:
        step = full.tune_step(Candidate(q, f, step, 0.0, d), target)
    else:
        q, step = full.fill_base(q, target), 16.0
    meta = metadata if note is None else {**metadata, BASE_CHOICE_KEY: note}
    return search(im, color, None, full.opts, reg, meta, s=full, decided=(q, f, step, d * scale))

