"""Speed of one RFP epoch: vmap + lax.scan (ours) vs a per-cluster Python loop (same objective).

Issue 5 target: one epoch over 1,000 clusters x 50 rows, MLP 2x64, k = 5, second order,
under 1 s after compilation on 2 CPU cores; issue 14: still so with the estimator's default
inner safeguard (backtracking on the cluster's own loss).  The rows marked "-" have no peer
run (the same R_k with other options: safeguard, momentum, head-only adaptation).  The peer
is the same R_k (eq. 18) computed cluster by cluster in Python: a jitted per-cluster
value-and-gradient (compiled once, all clusters have 50 rows), gradients summed in Python,
one jitted optax update per minibatch.

    .venv/bin/python benchmarks/rfp_speed.py [--clusters 1000] [--rows 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from flexcausal.cluster._data import pad_clusters
from flexcausal.cluster._train import run_epoch
from flexcausal.cluster.networks import MLP, split_model
from flexcausal.cluster.objective import RFPConfig, cluster_sum, loop_value_and_grad


def _block(tree):
    return jax.block_until_ready(tree)


def time_vectorised(params, static, cfg, opt, data, batch, repeats):
    X, y, m = (jnp.asarray(a) for a in (data.X, data.y, data.mask))
    state = opt.init(params)
    t0 = time.perf_counter()
    p, s, _ = _block(
        run_epoch(params, state, jax.random.PRNGKey(0), X, y, m, static, cfg, opt, batch)
    )
    first = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        p, s, _ = _block(
            run_epoch(p, s, jax.random.PRNGKey(r + 1), X, y, m, static, cfg, opt, batch)
        )
        times.append(time.perf_counter() - t0)
    return first, times


def time_loop(params, static, cfg, opt, clusters, batch, repeats):
    update = eqx.filter_jit(lambda g, s, p: opt.update(g, s, p))
    apply = eqx.filter_jit(optax.apply_updates)
    state = opt.init(params)
    # warm-up: compile the per-cluster gradient and the update once
    _, g = loop_value_and_grad(params, static, clusters[:1], cfg)
    _block(update(g, state, params))
    times = []
    p, s = params, state
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        order = rng.permutation(len(clusters))
        t0 = time.perf_counter()
        for b in range(0, len(order), batch):
            _, g = loop_value_and_grad(p, static, [clusters[i] for i in order[b : b + batch]], cfg)
            upd, s = update(g, s, p)
            p = apply(p, upd)
        _block(p)
        times.append(time.perf_counter() - t0)
    return times


def time_eager(params, static, cfg, clusters, n_sample):
    """Seconds per epoch of the loop *without* jit, extrapolated from ``n_sample`` clusters."""
    grad_one = jax.value_and_grad(cluster_sum)
    t0 = time.perf_counter()
    _block(loop_value_and_grad(params, static, clusters[:n_sample], cfg, grad_one=grad_one))
    return (time.perf_counter() - t0) * len(clusters) / n_sample


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32, help="clusters per outer step")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-repeats", type=int, default=1)
    ap.add_argument(
        "--eager-sample",
        type=int,
        default=5,
        help="clusters timed for the un-jitted loop (0 = skip)",
    )
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    C, n, d = args.clusters, args.rows, args.features
    g = np.repeat(np.arange(C), n)
    X = rng.normal(size=(C * n, d)) + rng.normal(size=(C, d))[g]
    y = np.abs(X[:, 0]) + rng.normal(size=C)[g] * 0.5 + 0.1 * rng.normal(size=C * n)
    data = pad_clusters(X, y, g).with_empty(1)
    clusters = [(jnp.asarray(data.X[c]), jnp.asarray(data.y[c])) for c in range(C)]
    params, static = split_model(MLP(d, (64, 64), "relu", key=jax.random.PRNGKey(0)))
    opt = optax.adam(1e-3)

    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, "
        f"{os.cpu_count()} CPU cores, jax {jax.__version__} ({jax.default_backend()})"
    )
    print(
        f"data: {C} clusters x {n} rows, {d} features; MLP 2x64 (relu); adam; "
        f"{args.batch} clusters per outer step ({-(-C // args.batch)} steps per epoch)"
    )
    print()
    header = (
        f"{'variant':<34}{'compile+1st (s)':>16}{'epoch (s)':>11}"
        f"{'jit loop (s)':>14}{'ratio':>8}{'eager loop (s)*':>17}{'ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    base = RFPConfig(pooled_weight=0.5, inner_steps=5, inner_lr=0.1)
    variants = [
        ("k=5, second order, a=0.5", base, True),
        ("k=5, first order, a=0.5", base.replace(first_order=True), True),
        ("k=1, second order, a=0.5", base.replace(inner_steps=1), True),
        ("k=5, 2nd, safeguard (default)", base.replace(inner_safeguard="backtrack"), False),
        ("k=5, 2nd, safeguard, momentum .9",
         base.replace(inner_safeguard="backtrack", inner_momentum=0.9), False),
        ("k=5, 2nd, safeguard, head only",
         base.replace(inner_safeguard="backtrack", adapt_params="head"), False),
    ]
    for name, cfg, with_peer in variants:
        first, times = time_vectorised(params, static, cfg, opt, data, args.batch, args.repeats)
        ours = statistics.median(times)
        if not with_peer:
            print(f"{name:<34}{first:>16.2f}{ours:>11.3f}{'-':>14}{'-':>8}{'-':>17}{'-':>9}")
            rows.append((name, first, ours, float("nan")))
            continue
        loop = time_loop(params, static, cfg, opt, clusters, args.batch, args.loop_repeats)
        peer = statistics.median(loop)
        eager = (
            time_eager(params, static, cfg, clusters, args.eager_sample)
            if args.eager_sample
            else float("nan")
        )
        print(
            f"{name:<34}{first:>16.2f}{ours:>11.3f}{peer:>14.2f}{peer / ours:>7.1f}x"
            f"{eager:>17.0f}{eager / ours:>8.0f}x"
        )
        rows.append((name, first, ours, peer))
    print()
    print("jit loop: per-cluster jitted value_and_grad, Python loop over clusters, same batches")
    print(
        f"* eager loop: the same loop without jit, timed on {args.eager_sample} clusters and "
        f"scaled to {C}"
    )
    for i in (0, 3):
        ok = rows[i][2] < 1.0
        print(
            f"target ({rows[i][0]}: < 1 s per epoch after compilation): "
            f"{'met' if ok else 'NOT met'} ({rows[i][2]:.3f} s; median of {args.repeats})"
        )


if __name__ == "__main__":
    main()
