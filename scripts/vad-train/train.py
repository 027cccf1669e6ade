#!/usr/bin/env python3
"""Train the cxb VAD classifier (numpy only) on feature dumps and write dsp/src/vad/weights.rs.

Usage: train.py OUT_RS DATA_DIR... [--seed S] [--epochs E] [--check DIR]
Each DATA_DIR holds X.wav, X.scv (labels) and X.feat (model inputs written by the
`vad_features` example, 64 little-endian f32 per 10 ms frame). Files are split 90/10 by a hash of
their name into training and validation; the output bias is shifted so that the best-F1 threshold on
the validation split lands at 0.5. --check DIR only reports metrics on another labelled dir
(e.g. vad-dev); it never influences training.
"""
import argparse, glob, os, sys, zlib

import numpy as np

N_IN, H1, H2 = 64, 32, 16
S2_K = 16  # stage-2 history of stage-1 logits
S2_N = S2_K + 4  # + max over 4, 8, 16 and min over 4
FEATURE_VERSION = 2


def labels(scv, n):
    c = open(scv).read().strip().split(",")[1:]
    st = np.array(c[0::3], float); en = np.array(c[1::3], float); lb = np.array(c[2::3], int)
    t = np.arange(n) * 0.01 + 0.005
    y = np.full(n, -1)
    for s, e, l in zip(st, en, lb):
        y[(t >= s) & (t < e)] = l
    return y


def load(dirs):
    X, Y, F, L = [], [], [], []
    for d in dirs:
        for feat in sorted(glob.glob(os.path.join(d, "*.feat"))):
            if not os.path.exists(feat[:-5] + ".scv"):
                continue
            x = np.fromfile(feat, np.float32).reshape(-1, N_IN)
            y = labels(feat[:-5] + ".scv", len(x))
            k = y >= 0
            # labels cover a prefix of the frames, so the kept frames stay one contiguous sequence
            X.append(x[k]); Y.append(y[k]); F.append(np.full(k.sum(), zlib.crc32(os.path.basename(feat).encode())))
            L.append(int(k.sum()))
    return np.concatenate(X), np.concatenate(Y).astype(np.float32), np.concatenate(F), np.array(L)


def metrics(y, s):
    o = np.argsort(-s, kind="mergesort"); ys = y[o]; ss = s[o]
    tp = np.cumsum(ys); fp = np.cumsum(1 - ys)
    keep = np.r_[np.diff(ss) != 0, True]
    P = max(ys.sum(), 1); N = max(len(ys) - ys.sum(), 1)
    tpr = np.r_[0, tp[keep] / P]; fpr = np.r_[0, fp[keep] / N]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    prec = tp[keep] / np.maximum(tp[keep] + fp[keep], 1); rec = tp[keep] / P
    f1s = 2 * prec * rec / np.maximum(prec + rec, 1e-12); b = int(np.argmax(f1s))
    yh = s >= 0.5
    TP = (yh & (y == 1)).sum(); FP = (yh & (y == 0)).sum(); FN = (~yh & (y == 1)).sum()
    f1 = 2 * TP / max(2 * TP + FP + FN, 1)
    return auc, f1, float(f1s[b]), float(ss[keep][b])


class MLP:
    def __init__(self, rng):
        self.p = [rng.standard_normal((N_IN, H1)) * np.sqrt(2 / N_IN), np.zeros(H1),
                  rng.standard_normal((H1, H2)) * np.sqrt(2 / H1), np.zeros(H2),
                  rng.standard_normal((H2, 1)) * np.sqrt(1 / H2), np.zeros(1)]
        self.p = [a.astype(np.float32) for a in self.p]
        self.m = [np.zeros_like(a) for a in self.p]; self.v = [np.zeros_like(a) for a in self.p]; self.t = 0

    def forward(self, x):
        W1, b1, W2, b2, W3, b3 = self.p
        a1 = x @ W1 + b1; h1 = np.maximum(a1, 0)
        a2 = h1 @ W2 + b2; h2 = np.maximum(a2, 0)
        z = (h2 @ W3 + b3)[:, 0]
        return z, (x, a1, h1, a2, h2)

    def step(self, x, y, lr, wd):
        W1, b1, W2, b2, W3, b3 = self.p
        z, (x, a1, h1, a2, h2) = self.forward(x)
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        dz = ((p - y) / len(y))[:, None].astype(np.float32)
        gW3 = h2.T @ dz; gb3 = dz.sum(0)
        dh2 = dz @ W3.T; da2 = dh2 * (a2 > 0)
        gW2 = h1.T @ da2; gb2 = da2.sum(0)
        dh1 = da2 @ W2.T; da1 = dh1 * (a1 > 0)
        gW1 = x.T @ da1; gb1 = da1.sum(0)
        g = [gW1 + wd * W1, gb1, gW2 + wd * W2, gb2, gW3 + wd * W3, gb3]
        self.t += 1
        for i in range(6):
            self.m[i] = 0.9 * self.m[i] + 0.1 * g[i]; self.v[i] = 0.999 * self.v[i] + 0.001 * g[i] ** 2
            mh = self.m[i] / (1 - 0.9 ** self.t); vh = self.v[i] / (1 - 0.999 ** self.t)
            self.p[i] -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)



def stage2_inputs(z, lens):
    """Per-frame stage-2 inputs from the stage-1 logits z of consecutive files (history starts at 0)."""
    out = np.zeros((len(z), S2_N), np.float32); pos = 0
    for n in lens:
        zf = z[pos:pos + n]; Z = np.zeros((n, S2_K), np.float32)
        for j in range(S2_K):
            Z[j:, j] = zf[:n - j]
        out[pos:pos + n, :S2_K] = Z
        out[pos:pos + n, S2_K] = Z[:, :4].max(1); out[pos:pos + n, S2_K + 1] = Z[:, :8].max(1)
        out[pos:pos + n, S2_K + 2] = Z.max(1); out[pos:pos + n, S2_K + 3] = Z[:, :4].min(1)
        pos += n
    return out


def train_lr(S, y, rng, epochs=3, lr=0.01):
    w = np.zeros(S.shape[1], np.float32); w[0] = 1.0; b = np.zeros(1, np.float32)
    m = [np.zeros_like(w), np.zeros_like(b)]; v = [np.zeros_like(w), np.zeros_like(b)]; t = 0
    for ep in range(epochs):
        order = rng.permutation(len(y))
        for i in range(0, len(order), 4096):
            j = order[i:i + 4096]; z = S[j] @ w + b[0]
            p = 1 / (1 + np.exp(-np.clip(z, -30, 30))); d = (p - y[j]) / len(j)
            g = [S[j].T @ d + 1e-4 * w, np.array([d.sum()], np.float32)]; t += 1
            for k, par in enumerate((w, b)):
                m[k] = 0.9 * m[k] + 0.1 * g[k]; v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                par -= (lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)).astype(np.float32)
    return w, float(b[0])


def write_rs(path, W1, b1, W2, b2, W3, b3, s2w, s2b, note):
    def arr(a):
        vals = [f"{float(v):.9e}" for v in np.asarray(a, np.float32).ravel()]
        return "\n".join("    " + ", ".join(vals[i:i + 6]) + "," for i in range(0, len(vals), 6))
    s = f"""//! Generated by `scripts/vad-train/run` (train.py); do not edit by hand.
//! {note}
#![allow(clippy::excessive_precision, clippy::approx_constant, clippy::unreadable_literal)]

/// Feature layout version the weights were trained for.
pub(crate) const FEATURE_VERSION: u32 = {FEATURE_VERSION};
/// Model input length.
pub(crate) const N_IN: usize = {N_IN};
/// First hidden layer width.
pub(crate) const H1: usize = {H1};
/// Second hidden layer width.
pub(crate) const H2: usize = {H2};
/// Stage-2 history length (stage-1 logits of this frame and the ones before).
pub(crate) const S2_K: usize = {S2_K};
/// Stage-2 input length: the history, then max over 4, 8 and `S2_K` frames and min over 4.
pub(crate) const S2_N: usize = {S2_N};
/// Layer 1 weights, row-major `[H1][N_IN]` (input standardisation folded in).
#[rustfmt::skip]
pub(crate) static W1: [f32; H1 * N_IN] = [
{arr(W1)}
];
/// Layer 1 biases.
#[rustfmt::skip]
pub(crate) static B1: [f32; H1] = [
{arr(b1)}
];
/// Layer 2 weights, row-major `[H2][H1]`.
#[rustfmt::skip]
pub(crate) static W2: [f32; H2 * H1] = [
{arr(W2)}
];
/// Layer 2 biases.
#[rustfmt::skip]
pub(crate) static B2: [f32; H2] = [
{arr(b2)}
];
/// Output weights.
#[rustfmt::skip]
pub(crate) static W3: [f32; H2] = [
{arr(W3)}
];
/// Output bias.
pub(crate) const B3: f32 = {float(b3):.9e};
/// Stage-2 (temporal smoothing) weights over the logit history features.
#[rustfmt::skip]
pub(crate) static S2_W: [f32; S2_N] = [
{arr(s2w)}
];
/// Stage-2 bias (includes the shift that puts the best-F1 threshold at 0.5).
pub(crate) const S2_B: f32 = {float(s2b):.9e};
"""
    open(path, "w").write(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out"); ap.add_argument("dirs", nargs="+")
    ap.add_argument("--seed", type=int, default=1); ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--check", default=None); ap.add_argument("--save", default=None)
    ap.add_argument("--load", default=None, help="skip stage 1, load its parameters from this .npz")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    X, Y, F, L = load(a.dirs)
    val = (F % 10) == 0
    Lt = []; Lv = []; pos = 0
    for n in L:
        (Lv if val[pos] else Lt).append(n); pos += n
    Xt, Yt, Xv, Yv = X[~val], Y[~val], X[val], Y[val]
    print(f"frames train={len(Yt)} val={len(Yv)} speech={Y.mean():.3f}", flush=True)
    net = MLP(rng)
    if a.load:
        d = np.load(a.load); mu, sd = d["mu"], d["sd"]; net.p = [d[f"p{i}"] for i in range(6)]
    else:
        mu = Xt.mean(0); sd = Xt.std(0); sd[sd < 1e-6] = 1.0
    norm = lambda x: ((x - mu) / sd).astype(np.float32)
    Xtn = norm(Xt); Xvn = norm(Xv)
    bs = 1024; lr = 3e-3
    for ep in range(0 if a.load else a.epochs):
        order = rng.permutation(len(Yt))[:len(Yt) // 2]  # a random half per epoch (frames are redundant)
        lr_e = lr * (0.5 ** max(0, ep - a.epochs // 2))
        for i in range(0, len(order), bs):
            j = order[i:i + bs]
            xb = Xtn[j] + rng.standard_normal((len(j), N_IN)).astype(np.float32) * 0.05
            net.step(xb, Yt[j], lr_e, 1e-4)
        zv, _ = net.forward(Xvn)
        auc, f1, bf1, thr = metrics(Yv, 1 / (1 + np.exp(-zv)))
        print(f"epoch {ep} lr={lr_e:.1e} val AUC={auc:.4f} F1={f1:.3f} bestF1={bf1:.3f}@{thr:.2f}", flush=True)
    if a.save:
        np.savez(a.save, mu=mu, sd=sd, **{f"p{i}": p for i, p in enumerate(net.p)})
    zt = net.forward(Xtn)[0].astype(np.float32); zv = net.forward(Xvn)[0].astype(np.float32)
    auc, f1, bf1, thr = metrics(Yv, 1 / (1 + np.exp(-zv)))
    print(f"stage 1 val AUC={auc:.4f} F1={f1:.3f} bestF1={bf1:.3f}@{thr:.2f}", flush=True)
    St = stage2_inputs(zt, Lt); Sv = stage2_inputs(zv, Lv)
    s2w, s2b = train_lr(St, Yt, rng)
    z2v = Sv @ s2w + s2b
    _, _, _, thr = metrics(Yv, 1 / (1 + np.exp(-z2v)))
    thr = float(np.clip(thr, 0.05, 0.95)); s2b -= float(np.log(thr / (1 - thr)))
    auc, f1, bf1, thr = metrics(Yv, 1 / (1 + np.exp(-(Sv @ s2w + s2b))))
    note = (f"seed {a.seed}, {a.epochs} epochs, {len(Yt)} training frames; own validation split "
            f"AUC={auc:.4f} F1={f1:.3f}")
    print("stage 2 " + note, flush=True)
    W1, b1, W2, b2, W3, b3 = net.p
    W1f = (W1 / sd[:, None]).astype(np.float32)
    b1f = (b1 - (mu / sd) @ W1).astype(np.float32)
    write_rs(a.out, W1f.T, b1f, W2.T, b2, W3[:, 0], float(b3[0]), s2w, s2b, note)
    if a.check:
        Xc, Yc, _, Lc = load([a.check])
        zc = net.forward(norm(Xc))[0].astype(np.float32)
        auc, f1, bf1, t = metrics(Yc, 1 / (1 + np.exp(-zc)))
        print(f"check stage 1 {a.check}: AUC={auc:.4f} F1={f1:.3f} bestF1={bf1:.3f}@{t:.2f}")
        z2 = stage2_inputs(zc, Lc) @ s2w + s2b
        auc, f1, bf1, t = metrics(Yc, 1 / (1 + np.exp(-z2)))
        print(f"check stage 2 {a.check}: AUC={auc:.4f} F1={f1:.3f} bestF1={bf1:.3f}@{t:.2f}")


if __name__ == "__main__":
    main()
