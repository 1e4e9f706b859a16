"""Evaluation of policies with confidence intervals, from Python or the shell.

``evaluate(game, policies, episodes, seed)`` plays ``episodes`` matches with
:func:`metagame.agents.arena.play` and reports, per seat, the mean return with a Student-t
interval and the win rate with a Wilson score interval (Wilson 1927; it stays inside [0, 1] and
keeps its coverage near 0 and 1, where the normal interval does not), and the draw rate.
Seats are swapped between episodes when ``swap=True`` and the policies of a two-seat game are
compared as players, not seats: the first policy's results are then its results in either seat.

From the shell, ``python -m metagame.agents.evaluation GAME SPEC [SPEC ...]`` where a SPEC is a
policy checkpoint written by ``save_policy`` (or ``league solve``) or ``random``; ``--greedy``
or ``--sampled`` override how checkpoints act. Bad input ends with one line and status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from metagame.agents.arena import play


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def format(self, signed: bool = True) -> str:
        f = "{:+.3f}" if signed else "{:.3f}"
        return f"{f.format(self.estimate)} [{f.format(self.low)}, {f.format(self.high)}]"


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> Interval:
    """The mean with its Student-t interval (a point when there is one value or no spread)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2 or values.std() == 0.0:
        return Interval(mean, mean, mean)
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * stats.sem(values)
    return Interval(mean, mean - half, mean + half)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for a proportion."""
    if trials <= 0:
        raise ValueError(f"trials must be positive, got {trials}")
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class SeatResult:
    policy: str
    mean_return: Interval
    win_rate: Interval


@dataclass(frozen=True)
class Evaluation:
    game: str
    episodes: int
    seats: list[SeatResult]
    draw_rate: Interval

    def table(self) -> str:
        lines = [f"{self.game}: {self.episodes} episodes, 95% intervals"]
        lines += [
            f"  {k}: {s.policy:24s} return {s.mean_return.format()}"
            f"   win rate {s.win_rate.format(signed=False)}"
            for k, s in enumerate(self.seats)
        ]
        lines.append(f"  draws {self.draw_rate.format(signed=False)}")
        return "\n".join(lines)


def evaluate(
    game: str,
    policies: list,
    episodes: int = 200,
    seed: int = 0,
    swap: bool = True,
    env_kwargs: dict[str, Any] | None = None,
) -> Evaluation:
    """Plays ``episodes`` matches and returns each policy's return and win rate with intervals.

    With ``swap`` (two policies only), half the episodes seat them the other way round and the
    results follow the policies, so a first-mover advantage does not count for either.
    """
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    swap = swap and len(policies) == 2
    halves = [(list(policies), episodes - episodes // 2 if swap else episodes)]
    if swap:
        halves.append((policies[::-1], episodes // 2))
    returns, outcomes = [], []
    offset = seed
    for order, n in halves:
        if n == 0:
            continue
        res = play(game, order, episodes=n, seed=offset, env_kwargs=env_kwargs)
        offset += n
        flip = order is not halves[0][0]
        r = res.returns[:, ::-1] if flip else res.returns
        o = np.where(res.outcomes >= 0, (1 - res.outcomes) if flip else res.outcomes, -1)
        returns.append(r)
        outcomes.append(o)
    returns, outcomes = np.concatenate(returns), np.concatenate(outcomes)
    seats = [
        SeatResult(
            str(getattr(p, "id", type(p).__name__)),
            mean_interval(returns[:, k]),
            wilson_interval(int(np.sum(outcomes == k)), len(outcomes)),
        )
        for k, p in enumerate(policies[: returns.shape[1]])
    ]
    draws = wilson_interval(int(np.sum(outcomes == -1)), len(outcomes))
    return Evaluation(game, len(outcomes), seats, draws)


def _policy(spec: str, env, k: int, greedy: bool | None, seed: int):
    from metagame.agents.policy import RandomPolicy, load_policy

    if spec == "random":
        agent = env.possible_agents[min(k, len(env.possible_agents) - 1)]
        return RandomPolicy(env.action_space(agent), seed=seed + k, id=f"random_{k}")
    return load_policy(spec, greedy=greedy, seed=seed + k)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metagame.agents.evaluation",
        description="Play saved policies against each other; print returns and win rates "
        "with 95%% confidence intervals.",
        epilog="example: python -m metagame.agents.evaluation openspiel:kuhn_poker "
        "runs/quickstart/solve/nash random --episodes 1000",
    )
    parser.add_argument("game", help="a make() name, e.g. openspiel:kuhn_poker")
    parser.add_argument("policies", nargs="+", help="policy checkpoint directories or 'random'")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-kwargs", default="{}", help="JSON object of make() keywords")
    parser.add_argument("--no-swap", action="store_true", help="keep seats fixed")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_const", const=True, dest="greedy")
    mode.add_argument("--sampled", action="store_const", const=False, dest="greedy")
    args = parser.parse_args(argv)
    try:
        env_kwargs = json.loads(args.env_kwargs)
        if not isinstance(env_kwargs, dict):
            raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
        from metagame.envs import make

        env = make(args.game, **env_kwargs)
        policies = [_policy(s, env, k, args.greedy, args.seed) for k, s in enumerate(args.policies)]
        result = evaluate(
            args.game, policies, args.episodes, args.seed, not args.no_swap, env_kwargs
        )
    except (ValueError, json.JSONDecodeError) as err:
        print(f"evaluate: error: {err}", file=sys.stderr)
        return 2
    print(result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
