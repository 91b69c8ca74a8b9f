"""F^2BMLD's own experiment: offline policy evaluation on the noisy-action CartPole.

    .venv/bin/python benchmarks/ope_cartpole.py --noise 0 0.1 0.2 0.3 0.4 --seeds 5
    .venv/bin/python benchmarks/ope_cartpole.py --noise 0.2 --seeds 2 --seed-offset 3 \\
        --methods f2bmld dfiv --steps-scale 0.2          # a reduced run
    .venv/bin/python benchmarks/ope_cartpole.py --seeds 3 --steps dfiv=10000  # what we ran

The protocol of ``shared/notes/ope-proximal.md`` (github hudsonchen/F2BMLD at f4564b7):
per noise level, the shipped DQN (``flexcausal.ope.load_cartpole_policy``) is the greedy
target policy and, with a random action with probability 0.1, the behaviour policy; 2,000
behaviour episodes (~1M transitions; one dataset per noise level, as the official code
caches it, ``--data-per-seed`` draws one per seed instead); the value is read out as the mean
of Q(s0, pi(s0)) over 1,000 reset states every 100 steps; the truth is the Monte Carlo
discounted return of the target policy (1,000 episodes), truncated at 500 steps (official)
and untruncated. Methods (``--methods``):

  f2bmld     official network form: batch 32, 50,000 steps (noise 0: batch 1024, 20,000)
  dfiv       official DFIV-for-OPE port: batch 1024, 30,000 steps
  fqe        neural fitted Q evaluation (our classic baseline): batch 256, 30,000 steps
  f2bmld_mf  the slides' mean-field Langevin form: batch 32, 20,000 steps
  f2bmld_nofr  f2bmld without the official output ReLU on Q, g and g~: a g whose output
             unit dies (after a spike) outputs 0 forever, the outer gradient
             lam [(T - g~)^2 - (T - g)^2] then vanishes and Q only decays under its l2
             penalty (seen at noise 0.2, seed 0: Q0 97 -> 230 -> 36 after step 36,000)

``--steps-scale`` multiplies every step count, ``--steps dfiv=10000`` sets one method's (the
table says what ran). Results go to
``<out>.csv`` (one row per run, appended as runs finish, so partial runs survive; existing
(method, noise, seed) rows are skipped), histories to ``<out>_histories.npz``; the table
and ``<out>_box.png`` (|Q0 - truth| over seeds, log axis: the official figure) and
``<out>_trajectory.png`` (Q0 against steps, truth lines) are made from the CSV. ``--report``
only redraws them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from flexcausal import ope  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

# Read from the official figure (ope-proximal.md): median |Q0 - truth| over seeds.
OFFICIAL_TRUTH = {0.0: 99.343, 0.1: 99.246, 0.2: 99.120, 0.3: 96.328, 0.4: 83.693}
OFFICIAL_MEDIAN = {"f2bmld": {0.0: 0.6, 0.1: 0.13, 0.2: 0.15, 0.3: 1.2, 0.4: 4.0},
                   "dfiv": {0.0: 0.8, 0.1: 0.8, 0.2: 2.0, 0.3: 5.0, 0.4: 24.0}}


def make_method(name: str, noise: float, seed: int, scale: float, override=None):
    def steps(n):
        if override and name in override:
            return override[name]
        return max(int(round(n * scale / 100)) * 100, 100)

    if name == "f2bmld":
        big = noise == 0.0  # official: batch 1024 and 20,000 steps at noise 0
        return ope.F2BMLD(n_steps=steps(20_000 if big else 50_000),
                          batch_size=1024 if big else 32, seed=seed)
    if name == "f2bmld_nofr":  # the official form without the output ReLUs (see docstring)
        big = noise == 0.0
        return ope.F2BMLD(n_steps=steps(20_000 if big else 50_000),
                          batch_size=1024 if big else 32, final_relu=False, seed=seed)
    if name == "dfiv":
        return ope.DFIV(n_steps=steps(30_000), seed=seed)
    if name == "fqe":
        return ope.FQE(n_steps=steps(30_000), seed=seed)
    if name == "f2bmld_mf":
        return ope.F2BMLD(form="mean_field", n_steps=steps(20_000), lr=5.0, seed=seed)
    raise ValueError(f"unknown method {name!r}")


def truths(noises, episodes: int, path: Path) -> dict:
    """Monte Carlo truths per noise level, cached in a JSON next to the results."""
    cache = json.loads(path.read_text()) if path.exists() else {}
    for noise in noises:
        key = f"{noise:.1f}_{episodes}"
        if key in cache:
            continue
        target = ope.load_cartpole_policy(noise)
        t0 = time.perf_counter()
        tr = ope.monte_carlo_value(target, noise, episodes, seed=2024)
        un = ope.monte_carlo_value(target, noise, episodes, seed=2024, truncated=False)
        cache[key] = {"truncated": tr.value, "truncated_se": tr.se,
                      "untruncated": un.value, "untruncated_se": un.se,
                      "mean_length": tr.mean_length}
        print(f"truth noise {noise}: {tr.value:.3f} (500 steps, se {tr.se:.3f}), "
              f"{un.value:.3f} untruncated ({time.perf_counter() - t0:.0f} s)", flush=True)
        path.write_text(json.dumps(cache, indent=1))
    return {noise: cache[f"{noise:.1f}_{episodes}"] for noise in noises}


def run(args) -> None:
    out = args.out
    csv = out.with_suffix(".csv")
    hist_path = Path(str(out) + "_histories.npz")
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
    histories = dict(np.load(hist_path, allow_pickle=False)) if hist_path.exists() else {}
    truth = truths(args.noise, args.truth_episodes, Path(str(out) + "_truth.json"))
    s0 = ope.evaluation_states(1000, seed=7)
    override = dict(_parse_steps(item) for item in args.steps)
    datasets = {}
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):  # seeds outermost:
        for noise in args.noise:  # a cut-short run still covers every noise level
            target = ope.load_cartpole_policy(noise)
            data_seed = 1000 + (seed if args.data_per_seed else 0)
            if (noise, data_seed) not in datasets:
                if not args.data_per_seed:
                    datasets = {k: v for k, v in datasets.items() if k[1] in (data_seed,
                                                                          "on-policy")}
                else:
                    datasets = {k: v for k, v in datasets.items() if k[1] == "on-policy"}
                t0 = time.perf_counter()
                datasets[noise, data_seed] = ope.generate_dataset(
                    target.with_epsilon(0.1), noise, args.episodes, seed=data_seed)
                print(f"noise {noise}: {len(datasets[noise, data_seed])} transitions "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
            data = datasets[noise, data_seed]
            if (noise, "on-policy") not in datasets:  # for the Bellman residual column
                datasets[noise, "on-policy"] = ope.generate_dataset(target, noise, 20, seed=99)
            on_policy = datasets[noise, "on-policy"]
            for method in args.methods:
                if len(done) and ((done.method == method) & np.isclose(done.noise, noise)
                                  & (done.seed == seed)).any():
                    continue
                est = make_method(method, noise, seed, args.steps_scale, override)
                est.fit(data, target, s0)
                q0 = est.value()
                row = {"method": method, "noise": noise, "seed": seed, "q0": q0,
                       "truth": truth[noise]["truncated"],
                       "truth_untruncated": truth[noise]["untruncated"],
                       "abs_err": abs(q0 - truth[noise]["truncated"]),
                       "abs_err_untruncated": abs(q0 - truth[noise]["untruncated"]),
                       "bellman_mse": est.bellman_residual(on_policy),
                       "n_steps": est.n_steps, "batch_size": est.batch_size,
                       "n_transitions": len(data), "fit_time_s": est.fit_time_,
                       "machine": f"{platform.machine()} {os.cpu_count()} cpu"}
                print(f"  noise {noise} {method:10s} seed {seed}: Q0 {q0:8.3f}  |err| "
                      f"{row['abs_err']:7.3f}  (untrunc {row['abs_err_untruncated']:7.3f})  "
                      f"{est.fit_time_:5.0f} s", flush=True)
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
                done.to_csv(csv, index=False)
                key = f"{method}|{noise:.1f}|{seed}"
                histories[key + "|step"] = est.history_["step"]
                histories[key + "|q0"] = est.history_["q0"]
                np.savez_compressed(hist_path, **histories)
    report(out)


def _parse_steps(item: str):
    name, _, value = item.partition("=")
    if not value.isdigit():
        raise SystemExit(f"--steps takes method=N items, got {item!r}")
    return name, int(value)


def report(out: Path) -> None:
    csv = out.with_suffix(".csv")
    df = pd.read_csv(csv)
    lines = [f"OPE on CartPole ({csv.name}; {df.machine.iloc[0]}; "
             f"{platform.processor() or platform.machine()})",
             "|Q0 - truth| over seeds: median [min, max]; truth = 500-step-truncated MC "
             "(official), untrunc = untruncated MC; official = median read from the figure; "
             "TD mse = median mean squared Bellman residual on 20 on-policy episodes"]
    header = (f"{'noise':>5} {'method':>10} {'steps':>7} {'batch':>5} {'n':>2} {'truth':>8} "
              f"{'median':>8} {'[min, max]':>18} {'untrunc':>8} {'official':>8} {'time s':>7} "
              f"{'TD mse':>8}")
    lines.append(header)
    for (noise, method), g in df.groupby(["noise", "method"]):
        err = g.abs_err.to_numpy()
        official = OFFICIAL_MEDIAN.get(method, {}).get(round(noise, 1), np.nan)
        bellman = g.bellman_mse.median() if "bellman_mse" in g else np.nan
        lines.append(
            f"{noise:5.1f} {method:>10} {int(g.n_steps.iloc[0]):7d} {int(g.batch_size.iloc[0]):5d}"
            f" {len(g):2d} {g.truth.iloc[0]:8.3f} {np.median(err):8.3f} "
            f"[{err.min():7.3f}, {err.max():7.3f}] {np.median(g.abs_err_untruncated):8.3f} "
            f"{official:8.2f} {np.median(g.fit_time_s):7.0f} {bellman:8.4f}")
    lines.append("official truths (1,000 episodes, their DQNs): " + ", ".join(
        f"{k}: {v}" for k, v in OFFICIAL_TRUTH.items()))
    text = "\n".join(lines)
    print(text)
    out.with_suffix(".txt").write_text(text + "\n")
    _figures(df, out)


def _figures(df: pd.DataFrame, out: Path) -> None:
    methods = sorted(df.method.unique())
    noises = sorted(df.noise.unique())
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        data = [df[(df.method == method) & np.isclose(df.noise, nz)].abs_err.to_numpy()
                for nz in noises]
        pos = np.arange(len(noises)) + (k - (len(methods) - 1) / 2) * width
        bp = ax.boxplot([d if len(d) else [np.nan] for d in data], positions=pos,
                        widths=width * 0.9, patch_artist=True, manage_ticks=False)
        for patch in bp["boxes"]:
            patch.set_facecolor(f"C{k}")
            patch.set_alpha(0.6)
        ax.plot([], [], color=f"C{k}", lw=6, alpha=0.6, label=method)
        off = OFFICIAL_MEDIAN.get(method)
        if off:
            ax.scatter(pos, [off.get(round(nz, 1), np.nan) for nz in noises], marker="x",
                       color=f"C{k}", zorder=5)
    ax.set_xticks(np.arange(len(noises)), [f"{nz:g}" for nz in noises])
    ax.set_yscale("log")
    ax.set_xlabel("environment noise")
    ax.set_ylabel("|Q0 - truth| (500-step truth)")
    ax.set_title("OPE on CartPole (x: official medians)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(str(out) + "_box.png"), dpi=120)
    plt.close(fig)

    hist_path = Path(str(out) + "_histories.npz")
    if not hist_path.exists():
        return
    hist = np.load(hist_path, allow_pickle=False)
    fig, axes = plt.subplots(1, len(noises), figsize=(3.2 * len(noises), 3.2), squeeze=False)
    for ax, nz in zip(axes[0], noises, strict=True):
        sub = df[np.isclose(df.noise, nz)]
        for k, method in enumerate(methods):
            for seed in sorted(sub[sub.method == method].seed):
                key = f"{method}|{nz:.1f}|{seed}"
                if key + "|q0" in hist.files:
                    ax.plot(hist[key + "|step"], hist[key + "|q0"], color=f"C{k}", lw=0.8,
                            alpha=0.7, label=method if seed == sub.seed.min() else None)
        if len(sub):
            ax.axhline(sub.truth.iloc[0], color="k", ls="--", lw=1, label="truth (500)")
            ax.axhline(sub.truth_untruncated.iloc[0], color="grey", ls=":", lw=1,
                       label="truth (untrunc.)")
            lo = min(sub.truth.iloc[0], sub.q0.min()) - 10
            ax.set_ylim(max(lo, 0), max(sub.truth_untruncated.iloc[0], sub.q0.max()) + 10)
        ax.set_title(f"noise {nz:g}")
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("Q0")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(Path(str(out) + "_trajectory.png"), dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=["f2bmld", "dfiv", "fqe", "f2bmld_mf"])
    parser.add_argument("--steps-scale", type=float, default=1.0)
    parser.add_argument("--steps", nargs="*", default=[], metavar="METHOD=N",
                        help="step count of one method, e.g. dfiv=10000 (beats --steps-scale)")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--truth-episodes", type=int, default=1000)
    parser.add_argument("--data-per-seed", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "ope_cartpole")
    parser.add_argument("--report", action="store_true", help="only redraw table/figures")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.report:
        report(args.out)
    else:
        run(args)


if __name__ == "__main__":
    main()
