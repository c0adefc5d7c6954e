#!/usr/bin/env python3
"""Recomputes the figures of an `xpucert repro --dump` from its arrays.

Run it in the dump directory (needs numpy): python3 check.py
It loads expected_J.npy (the f64 oracle), actual_J.f64.npy (the backend's
output, exact values), magnitude_J.npy and io_magnitude_J.npy (for `bound`
checks), applies the
check described in case.json element by element, and prints max abs error,
max rel error, mismatches and headroom next to what xpucert reported.
Exit status 1 if they differ.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
case = json.load(open(os.path.join(HERE, "case.json")))


def load(name):
    return np.load(os.path.join(HERE, name))


def ulp(x, p, emin):
    # spacing of the output dtype at |x|: 2^(max(e, emin) - (p - 1))
    _, e = np.frexp(np.abs(x))
    e = np.where(np.abs(x) > 0, e - 1, emin)
    return np.ldexp(1.0, (np.maximum(e, emin) - (p - 1)).astype(np.int64))


def allowed(chk, e, m, m_io):
    kind = chk["kind"]
    # a declared compute precision coarser than the output widens ulp/allclose
    k = chk.get("coarsening", 1.0)
    if kind == "allclose":
        return k * (chk["atol"] + chk["rtol"] * np.abs(e))
    if kind == "ulp":
        return np.maximum(k * chk["n"] * ulp(e, chk["precision_bits"], chk["emin"]), chk["floor"])
    if kind == "bound":
        rounding = np.maximum(chk["output_u"] * np.abs(e), chk["floor"])
        return chk["c"] * chk["compute_u"] * m + chk["io_u"] * m_io + rounding
    return None  # exact


ok = True
print(f"{case['id']}: {case['status']}")
for out in case["outputs"]:
    if "actual" not in out:
        print(f"output {out['index']}: the backend produced no output to compare")
        continue
    chk = out["check"]
    e = load(out["expected_file"]).astype(np.float64)
    a = load(out["actual"]["f64_file"]).astype(np.float64)
    m = load(out["magnitude_file"]) if "magnitude_file" in out else np.abs(e)
    m_io = load(out["io_magnitude_file"]) if "io_magnitude_file" in out else np.zeros_like(e)
    # An exact result beyond the output dtype's range rounds to infinity.
    t = chk.get("overflow_threshold")
    if t is not None:
        e = np.where(np.isfinite(e) & (np.abs(e) >= t), np.copysign(np.inf, e), e)
    e, a, m, m_io = e.ravel(), a.ravel(), m.ravel(), m_io.ravel()

    nan_bad = np.isnan(e) != np.isnan(a)
    either_nan = np.isnan(e) | np.isnan(a)
    either_inf = ~either_nan & (np.isinf(e) | np.isinf(a))
    inf_bad = either_inf & (e != a)
    special = nan_bad | inf_bad
    finite = ~either_nan & ~either_inf

    err = np.where(finite, np.abs(a - e), 0.0)
    rel = np.where(finite & (e != 0), err / np.where(e != 0, np.abs(e), 1.0), 0.0)
    lim = allowed(chk, e, m, m_io)
    if lim is None:
        bad = finite & ((a != e) | (np.signbit(a) != np.signbit(e)))
        headroom = np.inf if bad.any() else 0.0
    else:
        lim = np.where(np.isnan(lim), 0.0, lim)
        bad = finite & (err > lim)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(err == 0, 0.0, np.where(lim > 0, err / lim, np.inf))
        headroom = float(ratio[finite].max()) if finite.any() else 0.0
    mine = {
        "max_abs_err": float(err.max()) if err.size else 0.0,
        "max_rel_err": float(rel.max()) if rel.size else 0.0,
        "mismatches": int((bad | special).sum()),
        "special_mismatches": int(special.sum()),
        "headroom": headroom,
    }
    reported = out["figures"]
    print(f"output {out['index']} ({out['dtype']} {out['shape']}), check {chk['text']}: {chk['meaning']}")
    for k, v in mine.items():
        r = reported[k]
        same = (v == r) or (np.isfinite(v) and np.isfinite(r) and abs(v - r) <= 1e-12 * max(abs(r), 1e-300))
        ok &= bool(same)
        print(f"  {k:<19} {v:<24.17g} reported {r:<24.17g} {'ok' if same else 'DIFFERENT'}")
    flat = np.flatnonzero(bad | special)[:5]
    for i in flat:
        idx = np.unravel_index(i, out["shape"]) if out["shape"] else ()
        lim_i = "-" if lim is None else f"{lim[i]:.6g}"
        print(f"  at {tuple(int(x) for x in idx)}: expected {e[i]:.9g}, got {a[i]:.9g}, error {err[i]:.3g}, allowed {lim_i}")
print("figures match" if ok else "figures DIFFER from xpucert's")
sys.exit(0 if ok else 1)
