"""Cosine scores, AS-norm against a cohort, and calibration metrics (EER, minDCF, thresholds)."""
from __future__ import annotations

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, m] cosine scores of L2-normalised rows."""
    return np.asarray(a, np.float32) @ np.asarray(b, np.float32).T


def as_norm(scores: np.ndarray, enrol: np.ndarray, test: np.ndarray, cohort: np.ndarray, top: int = 100) -> np.ndarray:
    """Adaptive symmetric score normalisation: each raw score is z-normalised against the
    ``top`` closest cohort scores of the enrolment side and of the test side, then averaged.
    Why: a speaker whose voice is close to many others gets high raw scores everywhere; AS-norm
    removes that per-speaker offset, which matters most on short telephone speech."""
    top = max(1, min(top, len(cohort)))
    def stats(x):
        c = np.sort(cosine(x, cohort), axis=1)[:, -top:]
        return c.mean(axis=1), c.std(axis=1) + 1e-6
    me, se = stats(enrol)
    mt, st = stats(test)
    return 0.5 * ((scores - me[:, None]) / se[:, None] + (scores - mt[None, :]) / st[None, :])


def eer(target: np.ndarray, nontarget: np.ndarray) -> tuple[float, float]:
    """(equal error rate, threshold at that point)."""
    target, nontarget = np.asarray(target, float), np.asarray(nontarget, float)
    thr = np.unique(np.concatenate([target, nontarget]))
    frr = np.searchsorted(np.sort(target), thr, side="left") / len(target)
    far = 1 - np.searchsorted(np.sort(nontarget), thr, side="left") / len(nontarget)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2), float(thr[i])


def min_dcf(target, nontarget, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """Normalised minimum detection cost (NIST SRE style, p_target 0.01)."""
    target, nontarget = np.asarray(target, float), np.asarray(nontarget, float)
    thr = np.unique(np.concatenate([target, nontarget]))
    pmiss = np.searchsorted(np.sort(target), thr, side="left") / len(target)
    pfa = 1 - np.searchsorted(np.sort(nontarget), thr, side="left") / len(nontarget)
    dcf = c_miss * p_target * pmiss + c_fa * (1 - p_target) * pfa
    return float(dcf.min() / min(c_miss * p_target, c_fa * (1 - p_target)))


def threshold_at_far(nontarget, far: float = 0.01) -> float:
    """Smallest threshold whose false-accept rate on the non-target scores is at most ``far``."""
    s = np.sort(np.asarray(nontarget, float))
    k = int(np.floor(len(s) * (1 - far)))
    return float(s[min(k, len(s) - 1)] + 1e-6) if len(s) else 1.0
