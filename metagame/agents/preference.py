"""Learners on a preference matrix: their last iterate approaches the minimax winner.

Each learner is called ``(P, iterations, beta=..., seed=...)`` with P[i, j] = Pr(i preferred to j)
and returns the last-iterate mixture (with ``history=True`` also the ``(iterations + 1, n)``
array of iterates). The game is the symmetric zero-sum game with payoff P - 1/2; with
``beta > 0`` its KL-regularised version, whose value for x against y is
``x^T (P - 1/2) y - beta KL(x || mu) + beta KL(y || mu)`` for a reference ``mu`` (uniform by
default). Preferences are queried through an oracle: exact (``samples=None``, the win-rate
vector ``P y`` per query) or sampled (``samples=k``: k Bernoulli comparisons per candidate
against opponents drawn from y).

Each learner is one :class:`Update` (its step x_t -> x_(t+1)); :func:`learn` validates the
arguments, builds the oracle and repeats the step.

- ``spo``: self-play preference optimisation (Swamy et al., 2024): one policy plays itself and is
  rewarded by its win proportion; the no-regret learner is optimistic multiplicative weights,
  whose last iterate converges in zero-sum games with a unique equilibrium (Daskalakis &
  Panageas, 2019).
- ``nash_md``: Nash mirror descent (Munos et al., 2023, "Nash Learning from Human Feedback"):
  improve against the geometric mixture of the policy and the reference.
- ``nash_mp``: Nash mirror prox (Tiapkin et al., 2025, "Accelerating Nash Learning from Human
  Feedback via Mirror Prox"): an extrapolation step then an update step; with eta = 2 the KL to
  the beta-regularised equilibrium falls like (1 + 2 beta)^(-N/2) in N preference queries.
- ``inpo``: iterative Nash policy optimisation (Zhang et al., 2024): the no-regret KL-regularised
  mirror-descent step, obtained by least-squares regression of log-ratios on a dataset of
  compared pairs drawn from the current policy (exactly the step itself when P is exact).
- ``bt_reward_model``: the RLHF baseline: fit Bradley-Terry scores to comparisons of pairs
  drawn from the reference, then maximise the fitted reward (KL-regularised). On intransitive
  P it ends on an exploitable policy.

The certificate, ``metagame.solvers.preference_exploitability(P, x, beta)``, is zero exactly at
a minimax winner (``beta = 0``) or at the regularised equilibrium.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, softmax

from metagame._arrays import as_preference_matrix, as_strategy

TINY = 1e-300


def kl(p, q) -> float:
    """KL(p || q) for probability vectors (0 log 0 = 0)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(np.maximum(q[mask], TINY)))))


@dataclass
class PreferenceOracle:
    """Answers preference queries about P, exactly or by sampling; counts the queries.

    A query is one call of ``win_rates(y)`` (the vector ``P y``) or ``compare(i, j)``.
    """

    P: np.ndarray
    samples: int | None = None
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    queries: int = 0

    def win_rates(self, y: np.ndarray) -> np.ndarray:
        """Each candidate's win rate against y: exact, or from ``samples`` comparisons each."""
        self.queries += 1
        if self.samples is None:
            return self.P @ y
        n = self.P.shape[0]
        opponents = self.rng.choice(n, size=(n, self.samples), p=y)
        wins = self.rng.random((n, self.samples)) < self.P[np.arange(n)[:, None], opponents]
        return wins.mean(axis=1)

    def compare(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Bernoulli outcomes 1[i preferred to j] for arrays of pairs."""
        self.queries += 1
        return (self.rng.random(np.shape(i)) < self.P[i, j]).astype(float)


def _reference(reference, n: int) -> np.ndarray:
    return np.full(n, 1.0 / n) if reference is None else as_strategy(reference, n, "reference")


def _check_eta(eta: float) -> float:
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be a positive finite number, got {eta!r}")
    return float(eta)


@dataclass
class Run:
    """What a learner's update step sees: the preference matrix, the reference mu, the
    regularisation beta, the step size eta (None: the learner's own schedule) and the oracle."""

    P: np.ndarray
    mu: np.ndarray
    beta: float
    eta: float | None
    oracle: PreferenceOracle


class Update:
    """A learner as the step x_t -> x_(t+1) that :func:`learn` repeats; ``__init__`` prepares
    what the steps share. ``beta`` and ``eta`` are the learner's defaults."""

    beta: float = 0.1
    eta: float | None = 1.0

    def __init__(self, run: Run):
        self.run = run

    def step(self, x: np.ndarray, t: int) -> np.ndarray:
        raise NotImplementedError


def learn(
    update: type[Update],
    P,
    iterations: int,
    beta: float,
    seed: int = 0,
    *,
    eta: float | None = 1.0,
    reference=None,
    init=None,
    samples: int | None = None,
    history: bool = False,
):
    """Runs ``update`` for ``iterations`` steps from ``init`` (default: the reference) against
    an oracle on P (exact when ``samples`` is None); returns the last iterate, and with
    ``history=True`` also the ``(iterations + 1, n)`` array of iterates."""
    P = as_preference_matrix(P)
    n = P.shape[0]
    if not isinstance(iterations, int | np.integer) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a non-negative finite number, got {beta!r}")
    if samples is not None and (not isinstance(samples, int | np.integer) or samples < 1):
        raise ValueError(f"samples must be a positive integer or None, got {samples!r}")
    mu = _reference(reference, n)
    x = mu.copy() if init is None else as_strategy(init, n, "init")
    oracle = PreferenceOracle(P, samples, np.random.default_rng(seed))
    eta = None if eta is None else _check_eta(eta)
    learner = update(Run(P, mu, beta, eta, oracle))
    xs = [x]
    for t in range(iterations):
        xs.append(learner.step(xs[-1], t))
    return (xs[-1], np.array(xs)) if history else xs[-1]


def _public(update: type[Update], name: str):
    """The learner as the function ``name(P, iterations, beta, seed, *, eta, reference, init,
    samples, history)``, with the update's defaults and docstring."""

    def run(
        P,
        iterations: int,
        beta: float = update.beta,
        seed: int = 0,
        *,
        eta: float | None = update.eta,
        reference=None,
        init=None,
        samples: int | None = None,
        history: bool = False,
    ):
        options = dict(reference=reference, init=init, samples=samples, history=history)
        return learn(update, P, iterations, beta, seed, eta=eta, **options)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = update.__doc__
    return run


def mirror_step(x: np.ndarray, g: np.ndarray, eta: float, beta: float, mu: np.ndarray):
    """argmax_y eta (y.g - beta KL(y || mu)) - KL(y || x), i.e.
    y ∝ (x mu^(eta beta) exp(eta g))^(1 / (1 + eta beta))."""
    logits = (np.log(np.maximum(x, TINY)) + eta * beta * np.log(mu) + eta * g) / (1 + eta * beta)
    return softmax(logits)


class SelfPlay(Update):
    """Self-play preference optimisation with optimistic multiplicative weights.

    Each iteration the policy plays itself: its reward for candidate a is a's win proportion
    against the policy, and it takes the optimistic step with reward ``2 g_t - g_(t-1)``.
    """

    beta = 0.0

    def __init__(self, run: Run):
        super().__init__(run)
        self.previous: np.ndarray | None = None

    def step(self, x, t):
        run = self.run
        g = run.oracle.win_rates(x)
        optimistic = g if self.previous is None else 2 * g - self.previous
        self.previous = g
        return mirror_step(x, optimistic, run.eta, run.beta, run.mu)


class NashMD(Update):
    """Nash-MD: x_{t+1} ∝ x_t^mu exp(eta_t P x_t^mu) with x_t^mu ∝ x_t^(1 - eta_t beta) mu^(eta_t
    beta). ``eta=None`` takes Munos et al.'s schedule eta_t = 2 / (beta (t + 2)) (for beta > 0;
    0.1 otherwise)."""

    eta = None

    def step(self, x, t):
        run = self.run
        if run.eta is not None:
            size = run.eta
        else:
            size = 2.0 / (run.beta * (t + 2)) if run.beta > 0 else 0.1
        w = min(size * run.beta, 1.0)
        mixture = softmax((1 - w) * np.log(np.maximum(x, TINY)) + w * np.log(run.mu))
        g = run.oracle.win_rates(mixture)
        return softmax(np.log(np.maximum(mixture, TINY)) + size * g)


class NashMP(Update):
    """Nash mirror prox: x_{t+1/2} = step(x_t, P x_t), x_{t+1} = step(x_t, P x_{t+1/2}) with
    ``mirror_step``; two preference queries per iteration."""

    eta = 2.0

    def step(self, x, t):
        run = self.run
        half = mirror_step(x, run.oracle.win_rates(x), run.eta, run.beta, run.mu)
        return mirror_step(x, run.oracle.win_rates(half), run.eta, run.beta, run.mu)


spo = _public(SelfPlay, "spo")
nash_md = _public(NashMD, "nash_md")
nash_mp = _public(NashMP, "nash_mp")


def inpo_regression(
    x: np.ndarray,
    pairs: np.ndarray,
    outcomes: np.ndarray,
    eta: float,
    beta: float,
    mu: np.ndarray,
    weights: np.ndarray | None = None,
    ridge: float = 1e-6,
) -> np.ndarray:
    """Minimises INPO's loss over compared pairs (y, y') with outcomes l = 1[y preferred]:

    sum_k w_k (theta_y - theta_y' - h_yy' - c (l_k - 1/2))^2,
    h = (Δ log x + eta beta Δ log mu) / (1 + eta beta), c = eta / (1 + eta beta),

    in the tabular logits theta (a graph-Laplacian least-squares problem; the ridge pins
    candidates absent from the data to the prior); returns softmax(theta).
    """
    n = x.shape[0]
    base = (np.log(np.maximum(x, TINY)) + eta * beta * np.log(mu)) / (1 + eta * beta)
    c = eta / (1 + eta * beta)
    w = np.ones(len(pairs)) if weights is None else weights
    i, j = pairs[:, 0], pairs[:, 1]
    laplacian = np.zeros((n, n))
    np.add.at(laplacian, (i, i), w)
    np.add.at(laplacian, (j, j), w)
    np.add.at(laplacian, (i, j), -w)
    np.add.at(laplacian, (j, i), -w)
    target = np.zeros(n)
    np.add.at(target, i, w * c * (outcomes - 0.5))
    np.add.at(target, j, -w * c * (outcomes - 0.5))
    d = np.linalg.solve(laplacian + ridge * np.eye(n), target)
    return softmax(base + d)


class INPO(Update):
    """INPO: each iteration draws ``samples`` pairs from x_t ⊗ x_t, queries their preferences
    and fits x_{t+1} by ``inpo_regression``; with exact P the dataset is every pair weighted by
    x_t ⊗ x_t with soft outcomes P (one query), and the fit is the mirror step itself."""

    def __init__(self, run: Run):
        super().__init__(run)
        n = run.P.shape[0]
        self.every = np.array([(a, b) for a in range(n) for b in range(n)])

    def step(self, x, t):
        run, oracle = self.run, self.run.oracle
        if oracle.samples is None:
            oracle.queries += 1
            weights = (x[:, None] * x[None, :]).ravel()
            return inpo_regression(
                x, self.every, run.P.ravel(), run.eta, run.beta, run.mu, weights, ridge=1e-12
            )
        pairs = oracle.rng.choice(run.P.shape[0], size=(oracle.samples, 2), p=x)
        outcomes = oracle.compare(pairs[:, 0], pairs[:, 1])
        return inpo_regression(x, pairs, outcomes, run.eta, run.beta, run.mu)


inpo = _public(INPO, "inpo")


def fit_bradley_terry(
    pairs: np.ndarray, outcomes: np.ndarray, n: int, weights=None, ridge: float = 1e-3
) -> np.ndarray:
    """Maximum-likelihood Bradley-Terry scores (mean zero) from compared pairs with outcomes
    1[first preferred] (soft outcomes allowed), with a small ridge for identifiability."""
    w = np.ones(len(pairs)) if weights is None else weights
    i, j = pairs[:, 0], pairs[:, 1]

    def loss(s):
        z = s[i] - s[j]
        nll = -np.sum(
            w * (outcomes * np.log(expit(z) + TINY) + (1 - outcomes) * np.log(expit(-z) + TINY))
        )
        residual = w * (expit(z) - outcomes)
        grad = np.zeros(n)
        np.add.at(grad, i, residual)
        np.add.at(grad, j, -residual)
        return nll + ridge * s @ s, grad + 2 * ridge * s

    s = minimize(loss, np.zeros(n), jac=True, method="L-BFGS-B").x
    return s - s.mean()


class BradleyTerryRLHF(Update):
    """RLHF with a Bradley-Terry reward model: fit scores s on pairs drawn from the reference
    (``samples`` comparisons, or every pair weighted by mu ⊗ mu with soft outcomes P), then
    ``iterations`` KL-regularised mirror-ascent steps on the reward s (toward argmax s when
    beta = 0; toward mu exp(s / beta) otherwise)."""

    beta = 0.0

    def __init__(self, run: Run):
        super().__init__(run)
        P, mu, oracle = run.P, run.mu, run.oracle
        n = P.shape[0]
        if oracle.samples is None:
            pairs = np.array([(a, b) for a in range(n) for b in range(n) if a != b])
            weights = mu[pairs[:, 0]] * mu[pairs[:, 1]]
            self.scores = fit_bradley_terry(pairs, P[pairs[:, 0], pairs[:, 1]], n, weights)
        else:
            pairs = oracle.rng.choice(n, size=(oracle.samples, 2), p=mu)
            self.scores = fit_bradley_terry(pairs, oracle.compare(pairs[:, 0], pairs[:, 1]), n)

    def step(self, x, t):
        return mirror_step(x, self.scores, self.run.eta, self.run.beta, self.run.mu)


bt_reward_model = _public(BradleyTerryRLHF, "bt_reward_model")
