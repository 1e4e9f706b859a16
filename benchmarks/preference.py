"""Preference-learner benchmark: Nash-MP's KL decay against its (1+2 beta)^(-N/2) bound, and the
learners' last iterates against the minimax winner.

Run: ``.venv/bin/python benchmarks/preference.py [--n 40] [--seed 0]``.

1. Nash-MP (eta = 2, exact queries, two per iteration) on an intransitive n-candidate matrix
   (Bradley-Terry scores plus skew-symmetric noise, no Condorcet winner): KL(x*_beta || x_N)
   against N preference queries, where x*_beta, the beta-regularised equilibrium, is found
   independently by scipy's root finder. Printed: the measured per-query decay rate of log KL,
   the bound's rate -log(1+2 beta)/2, their ratio, and the queries needed to reach KL < 1e-8
   measured and predicted by the bound.
2. Every learner's last iterate on the same matrix (beta = 0 for SPO; a small beta for the
   regularised learners) against the anchor, the minimax winner from HiGHS (and from
   ``solvers.minimax_winner``): exploitability, L1 distance to the winner and wall time, next to
   the Bradley-Terry baseline.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import linprog, root
from scipy.special import softmax

from metagame.agents.preference import (
    bt_reward_model,
    inpo,
    kl,
    nash_md,
    nash_mp,
    spo,
)
from metagame.envs.preference import bradley_terry, condorcet_winner, skew_symmetric_noise
from metagame.solvers import minimax_winner, preference_exploitability


def intransitive_matrix(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    for attempt in range(100):
        P = skew_symmetric_noise(bradley_terry(rng.normal(0, 0.5, n)), 0.3, seed + attempt)
        if condorcet_winner(P) is None:
            return P
    raise RuntimeError("no intransitive matrix found")


def lp_minimax_winner(P: np.ndarray) -> np.ndarray:
    n = len(P)
    res = linprog(
        np.r_[np.zeros(n), -1.0],
        A_ub=np.hstack([-(P - 0.5).T, np.ones((n, 1))]),
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(n), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * n + [(None, None)],
        method="highs",
    )
    return np.clip(res.x[:n], 0, None) / np.clip(res.x[:n], 0, None).sum()


def regularized_equilibrium(P: np.ndarray, beta: float) -> np.ndarray:
    n = len(P)
    mu = np.full(n, 1.0 / n)
    sol = root(lambda z: z - (np.log(mu) + (P - 0.5) @ softmax(z) / beta), np.log(mu), tol=1e-14)
    return softmax(sol.x)


def kl_decay(P: np.ndarray, betas: list[float], seed: int) -> None:
    print("1. Nash-MP KL(x*_beta || x_N) decay per preference query N (eta = 2)")
    header = (
        f"{'beta':>6} {'measured rate':>14} {'bound rate':>11} {'ratio':>6} "
        f"{'N to 1e-8':>10} {'bound N':>8} {'bound holds':>12}"
    )
    print(header)
    init = np.random.default_rng(seed).dirichlet(np.ones(len(P)))
    for beta in betas:
        star = regularized_equilibrium(P, beta)
        iterations = int(np.ceil(2 * np.log(1e12) / np.log(1 + 2 * beta) / 2)) + 5
        _, H = nash_mp(P, iterations, beta=beta, init=init, history=True)
        N = 2 * np.arange(len(H))
        k = np.array([kl(star, h) for h in H])
        above = k > 1e-12
        rate = np.polyfit(N[above], np.log(k[above]), 1)[0]
        bound_rate = -0.5 * np.log(1 + 2 * beta)
        reached = N[np.argmax(k < 1e-8)] if (k < 1e-8).any() else np.nan
        predicted = 2 * np.log(k[0] / 1e-8) / np.log(1 + 2 * beta)
        holds = bool((k[above] <= k[0] * np.exp(bound_rate * N[above]) * (1 + 1e-6)).all())
        print(
            f"{beta:6.2f} {rate:14.4f} {bound_rate:11.4f} {rate / bound_rate:6.2f} "
            f"{reached:10.0f} {predicted:8.0f} {str(holds):>12}"
        )


def learners(P: np.ndarray, seed: int) -> None:
    print("\n2. Last iterates against the minimax winner (anchor: HiGHS LP)")
    start = time.perf_counter()
    winner = lp_minimax_winner(P)
    lp_seconds = time.perf_counter() - start
    print(
        f"{'method':<28} {'iterations':>10} {'exploitability':>15} {'L1 to winner':>13} "
        f"{'seconds':>8}"
    )
    print(
        f"{'HiGHS LP (anchor)':<28} {'-':>10} {preference_exploitability(P, winner):15.2e} "
        f"{0.0:13.4f} {lp_seconds:8.3f}"
    )
    start = time.perf_counter()
    solved = minimax_winner(P)
    seconds = time.perf_counter() - start
    print(
        f"{'solvers.minimax_winner':<28} {solved.iterations:10d} "
        f"{preference_exploitability(P, solved.row):15.2e} "
        f"{np.abs(solved.row - winner).sum():13.4f} "
        f"{seconds:8.3f}"
    )
    init = np.random.default_rng(seed).dirichlet(np.ones(len(P)))
    runs = [
        ("spo (beta=0)", spo, 3000, dict(beta=0.0)),
        ("nash_mp (beta=0)", nash_mp, 1000, dict(beta=0.0)),
        ("nash_mp (beta=0.002)", nash_mp, 1000, dict(beta=0.002)),
        ("nash_md (beta=0.002)", nash_md, 3000, dict(beta=0.002, eta=0.5)),
        ("inpo (beta=0.002)", inpo, 3000, dict(beta=0.002, eta=0.5)),
        ("spo, 200 samples/query", spo, 3000, dict(beta=0.0, samples=200, eta=0.3)),
        ("bt_reward_model (baseline)", bt_reward_model, 200, dict(beta=0.0)),
    ]
    for name, learner, iterations, kwargs in runs:
        start = time.perf_counter()
        x = learner(P, iterations, seed=seed, init=init, **kwargs)
        seconds = time.perf_counter() - start
        print(
            f"{name:<28} {iterations:10d} {preference_exploitability(P, x):15.2e} "
            f"{np.abs(x - winner).sum():13.4f} {seconds:8.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    P = intransitive_matrix(args.n, args.seed)
    support = int((lp_minimax_winner(P) > 1e-6).sum())
    print(f"intransitive preference matrix: n = {args.n}, minimax-winner support {support}\n")
    kl_decay(P, [0.01, 0.05, 0.1, 0.5, 1.0], args.seed)
    learners(P, args.seed)


if __name__ == "__main__":
    main()
