"""The sums llama-perplexity keeps while it reads a text, and the statistics it prints from them.

Perplexity: the negative log-likelihood of every scored token, summed (and squared) in float64;
the final figure is exp(mean) with llama.cpp's ± estimate. KL divergence: for every scored
position, KL(base ‖ model) from the base file's 16-bit log-probabilities (only those above
-16 count), whether both put the same token on top, and Δp, the change in the probability of
the token that comes next; then mean, median, percentiles and maximum as `--kl-divergence`
prints them. Every step is llama.cpp's float32 arithmetic with float64 sums, so the figures
agree with its output to the last printed digit, bar the order of the float64 additions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from blossom_edge.quantize.kld_base import decode

# What llama-perplexity refuses to summarise ("we do not wish to do statistics on so few values").
MIN_STAT_COUNT = 100


def negative_log_likelihoods(logits: Any, targets: Any) -> tuple[Any, Any, Any]:
    """Per row: the target's negative log-likelihood (float32, as llama.cpp's `max + lse - logit`),
    the row's maximum and its log-sum-exp."""
    import numpy as np

    from blossom_edge.quantize.kld_base import log_sum_exp

    top = logits.max(axis=1)
    lse = log_sum_exp(logits, top)
    picked = logits[np.arange(len(targets)), targets]
    return (top + lse) - picked, top, lse


@dataclass
class PerplexityTally:
    """Σ nll and Σ nll² over the scored tokens, and their count."""

    nll: float = 0.0
    nll2: float = 0.0
    count: int = 0

    def add(self, nll: Any) -> None:
        import numpy as np

        values = nll.astype(np.float64)
        self.nll += float(values.sum())
        self.nll2 += float((values * values).sum())
        self.count += len(values)

    def perplexity(self) -> tuple[float, float]:
        """llama-perplexity's "Final estimate: PPL = x +/- y"."""
        mean = self.nll / self.count
        var = self.nll2 / self.count - mean * mean
        ppl = math.exp(mean)
        return ppl, (math.sqrt(var / (self.count - 1)) * ppl if var > 0 and self.count > 1 else 0.0)


@dataclass
class KlStats:
    """What `llama-perplexity --kl-divergence` prints, as numbers (probabilities as fractions, not %)."""

    count: int
    ppl: float
    ppl_unc: float
    ppl_base: float
    ppl_base_unc: float
    ppl_correlation: float
    ln_ppl_ratio: float
    ln_ppl_ratio_unc: float
    ppl_ratio: float
    ppl_ratio_unc: float
    ppl_diff: float
    ppl_diff_unc: float
    kld_mean: float
    kld_mean_unc: float
    kld_max: float
    kld_p999: float
    kld_p99: float
    kld_p95: float
    kld_p90: float
    kld_median: float
    kld_p10: float
    kld_p5: float
    kld_p1: float
    kld_p01: float
    kld_min: float
    dp_mean: float
    dp_mean_unc: float
    dp_max: float
    dp_p999: float
    dp_p99: float
    dp_p95: float
    dp_p90: float
    dp_p75: float
    dp_median: float
    dp_p25: float
    dp_p10: float
    dp_p5: float
    dp_p1: float
    dp_p01: float
    dp_min: float
    dp_rms: float
    dp_rms_unc: float
    same_top: float
    same_top_unc: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class KlTally:
    """llama.cpp's `kl_divergence_result`, plus every position's KL and Δp for the percentiles."""

    n_vocab: int
    sum_nll: float = 0.0
    sum_nll2: float = 0.0
    sum_nll_base: float = 0.0
    sum_nll_base2: float = 0.0
    sum_nll_nll_base: float = 0.0
    sum_kld: float = 0.0
    sum_kld2: float = 0.0
    sum_p_diff: float = 0.0
    sum_p_diff2: float = 0.0
    sum_p_diff4: float = 0.0
    max_p_diff: float = 0.0
    n_same_top: int = 0
    count: int = 0
    kld_values: list[Any] = field(default_factory=list)
    p_diff_values: list[Any] = field(default_factory=list)

    def add(self, logits: Any, base_rows: Any, targets: Any) -> None:
        """One block of positions: the model's float32 logits, the base file's rows, the next tokens."""
        import numpy as np

        f64 = np.float64
        nll, top, lse = negative_log_likelihoods(logits, targets)
        self.sum_nll += float(nll.sum(dtype=f64))
        self.sum_nll2 += float((nll * nll).sum(dtype=f64))
        base = decode(base_rows, self.n_vocab)
        rows = np.arange(len(targets))
        nll_base = -base[rows, targets]
        self.sum_nll_base += float(nll_base.sum(dtype=f64))
        self.sum_nll_base2 += float((nll_base * nll_base).sum(dtype=f64))
        self.sum_nll_nll_base += float((nll * nll_base).sum(dtype=f64))
        terms = np.exp(base) * ((base - logits) + (top + lse)[:, None])
        kld = np.where(base > np.float32(-16), terms, np.float32(0)).sum(axis=1, dtype=f64)
        self.sum_kld += float(kld.sum())
        self.sum_kld2 += float((kld * kld).sum())
        self.n_same_top += int((logits.argmax(axis=1) == base.argmax(axis=1)).sum())
        self.count += len(targets)
        p_diff = np.exp(-nll) - np.exp(-nll_base)
        p_diff2 = (p_diff * p_diff).astype(f64)
        self.sum_p_diff += float(p_diff.sum(dtype=f64))
        self.sum_p_diff2 += float(p_diff2.sum())
        self.sum_p_diff4 += float((p_diff2 * p_diff2).sum())
        self.max_p_diff = max(self.max_p_diff, float(np.abs(p_diff).max()))
        self.kld_values.append(kld.astype(np.float32))
        self.p_diff_values.append(p_diff)

    def stats(self) -> KlStats:
        """The summary llama-perplexity prints after its last chunk."""
        import numpy as np

        n = self.count
        log_ppl, log_ppl_unc = _mean_and_uncertainty(self.sum_nll, self.sum_nll2, n)
        log_base, log_base_unc = _mean_and_uncertainty(self.sum_nll_base, self.sum_nll_base2, n)
        ppl, ppl_base = math.exp(log_ppl), math.exp(log_base)
        cov = _covariance(self.sum_nll, self.sum_nll_base, self.sum_nll_nll_base, n)
        cor = cov / (log_ppl_unc * log_base_unc) if log_ppl_unc and log_base_unc else 0.0
        ratio = log_ppl - log_base
        ratio_unc = math.sqrt(max(0.0, log_ppl_unc ** 2 + log_base_unc ** 2 - 2.0 * cov))
        ppl_unc, base_unc = ppl * log_ppl_unc, ppl_base * log_base_unc
        diff_unc = math.sqrt(max(0.0, ppl_unc ** 2 + base_unc ** 2 - 2.0 * ppl * ppl_base * cov))
        kld_mean, kld_unc = _mean_and_uncertainty(self.sum_kld, self.sum_kld2, n)
        dp_mean, dp_unc = _mean_and_uncertainty(self.sum_p_diff, self.sum_p_diff2, n)
        mse, mse_unc = _mean_and_uncertainty(self.sum_p_diff2, self.sum_p_diff4, n)
        rms = math.sqrt(mse)
        same = self.n_same_top / n
        kld = np.sort(np.concatenate(self.kld_values))
        dp = np.sort(np.concatenate(self.p_diff_values))
        q = _percentile
        return KlStats(
            count=n, ppl=ppl, ppl_unc=ppl_unc, ppl_base=ppl_base, ppl_base_unc=base_unc, ppl_correlation=cor,
            ln_ppl_ratio=ratio, ln_ppl_ratio_unc=ratio_unc, ppl_ratio=math.exp(ratio),
            ppl_ratio_unc=math.exp(ratio) * ratio_unc, ppl_diff=ppl - ppl_base, ppl_diff_unc=diff_unc,
            kld_mean=kld_mean, kld_mean_unc=kld_unc, kld_max=float(kld[-1]), kld_p999=q(kld, 0.999),
            kld_p99=q(kld, 0.99), kld_p95=q(kld, 0.95), kld_p90=q(kld, 0.90), kld_median=_median(kld),
            kld_p10=q(kld, 0.10), kld_p5=q(kld, 0.05), kld_p1=q(kld, 0.01), kld_p01=q(kld, 0.001),
            kld_min=float(kld[0]), dp_mean=dp_mean, dp_mean_unc=dp_unc, dp_max=float(dp[-1]), dp_p999=q(dp, 0.999),
            dp_p99=q(dp, 0.99), dp_p95=q(dp, 0.95), dp_p90=q(dp, 0.90), dp_p75=q(dp, 0.75), dp_median=_median(dp),
            dp_p25=q(dp, 0.25), dp_p10=q(dp, 0.10), dp_p5=q(dp, 0.05), dp_p1=q(dp, 0.01), dp_p01=q(dp, 0.001),
            dp_min=float(dp[0]), dp_rms=rms, dp_rms_unc=0.5 / rms * mse_unc if rms else 0.0, same_top=same,
            same_top_unc=math.sqrt(same * (1 - same) / (n - 1)) if n > 1 else 0.0)


def _mean_and_uncertainty(total: float, total2: float, count: int) -> tuple[float, float]:
    if count < 1:
        return 0.0, 0.0
    mean = total / count
    var = total2 / count - mean * mean
    return mean, (math.sqrt(var / (count - 1)) if var > 0 and count > 10 else 0.0)


def _covariance(a: float, b: float, ab: float, count: int) -> float:
    if count < 10:
        return 0.0
    return (ab / count - (a / count) * (b / count)) / (count - 1)


def _percentile(values: Any, fraction: float) -> float:
    """llama.cpp's interpolated percentile, in its float32 arithmetic."""
    import numpy as np

    f = np.float32(fraction)
    p = f * np.float32(len(values) - 1)
    ip = int(p)
    p -= np.float32(ip)
    return float((np.float32(1) - p) * values[ip] + p * values[min(ip + 1, len(values) - 1)])


def _median(values: Any) -> float:
    import numpy as np

    n = len(values)
    if n % 2:
        return float(values[n // 2])
    return float(np.float32(0.5) * (values[n // 2] + values[n // 2 - 1]))
