"""OpenSpiel's own learners on an OpenSpiel game, as anchors of ``league_quality.py``.

Run as a script, one learner per process, so that each has the CPU to itself:

    python benchmarks/_openspiel_anchors.py ALGO GAME BUDGET_S SCHEDULE_JSON SEED [OPTIONS_JSON]

``ALGO`` is one of

- ``nfsp``: Neural Fictitious Self-Play (Heinrich and Silver 2016), OpenSpiel's PyTorch
  implementation with the hyperparameters of OpenSpiel's Kuhn and Leduc examples; the answer is
  the average-policy network of each player;
- ``psro``: PSRO (Lanctot et al. 2017) in OpenSpiel's ``psro_v2`` with DQN best responses
  trained by ``rl_oracle`` (Muller et al. 2020's settings of OpenSpiel's ``psro_v2_example``,
  Nash meta-solver); the answer is the meta-Nash mixture of the population, aggregated into one
  behavioural policy. This needs the JAX stack and cvxpy, so it runs in the anchor virtualenv
  of ``_openspiel_jax.py``;
- ``mccfr``: outcome-sampling Monte Carlo CFR (Lanctot et al. 2009), OpenSpiel's C++ solver;
- ``cfr_plus``: CFR+ (Tammelin 2014), OpenSpiel's C++ solver;

and prints one JSON line per evaluation: ``wall`` (training seconds: wall time with the
evaluations taken out), ``exploitability`` (exact, OpenSpiel's best response against the
average policy: mean over players of the best-response gain), ``steps`` (env steps the
learner sampled, where it samples whole games) and ``paused`` (seconds spent evaluating). It
evaluates at the start, whenever its training clock passes a time in ``SCHEDULE_JSON`` (a JSON
list of seconds) and when the clock reaches ``BUDGET_S``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

import numpy as np

# OpenSpiel's examples' NFSP hyperparameters, per game (nfsp_kuhn_pytorch, nfsp_leduc_pytorch).
NFSP_HPARAMS = {
    "kuhn_poker": {
        "hidden_layers_sizes": [128],
        "reservoir_buffer_capacity": int(2e6),
        "anticipatory_param": 0.1,
        "replay_buffer_capacity": int(2e5),
        "epsilon_decay_duration": int(3e6),
        "epsilon_start": 0.06,
        "epsilon_end": 0.001,
    },
    "leduc_poker": {
        "hidden_layers_sizes": [128],
        "reservoir_buffer_capacity": int(2e6),
        "anticipatory_param": 0.1,
        "replay_buffer_capacity": int(2e5),
        "min_buffer_size_to_learn": 1000,
        "batch_size": 128,
        "learn_every": 64,
        "rl_learning_rate": 0.01,
        "sl_learning_rate": 0.01,
        "optimizer_str": "sgd",
        "loss_str": "mse",
        "update_target_network_every": 19200,
        "discount_factor": 1.0,
        "epsilon_decay_duration": int(20e6),
        "epsilon_start": 0.06,
        "epsilon_end": 0.001,
    },
}

# psro_v2_example's DQN oracle and PSRO settings (Muller et al. 2020), Nash meta-solver.
PSRO_DQN = {
    "hidden_layers_sizes": [256] * 4,
    "batch_size": 32,
    "learning_rate": 1e-2,
    "update_target_network_every": 1000,
    "learn_every": 10,
    "optimizer_str": "adam",
}
# The example's budget per response and per meta-game entry; league_quality.py passes smaller
# ones (OPTIONS_JSON) so that PSRO completes iterations within the benchmark's wall budgets.
PSRO_OPTIONS = {"episodes_per_response": 10_000, "sims_per_entry": 1000}


class Clock:
    """Training seconds: wall time since the start, less the time spent evaluating."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.paused = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def timed_out(self, evaluate: Callable[[], float]) -> float:
        """``evaluate()``, its time left off the training clock."""
        begin = time.perf_counter()
        value = evaluate()
        self.paused += time.perf_counter() - begin
        return value


def run(
    train: Callable[[], int],
    evaluate: Callable[[], float],
    budget: float,
    schedule: list[float],
    clock: Clock,
) -> None:
    """Calls ``train`` (one chunk of training; it returns the env steps it sampled) until the
    clock reaches ``budget``, printing an evaluation at the start, at each schedule time it
    passes and at the end."""
    pending = sorted(t for t in schedule if t < budget)
    steps = 0

    def report() -> None:
        wall = clock.now()
        value = clock.timed_out(evaluate)
        row = {"wall": wall, "exploitability": value, "steps": steps, "paused": clock.paused}
        print(json.dumps(row), flush=True)

    report()
    done = clock.now() >= budget
    while not done:
        steps += train()
        # one reading per chunk: with two, the budget could pass between them and the run
        # ended without its last evaluation
        now = clock.now()
        done = now >= budget
        due = bool(pending) and now >= pending[0]
        while pending and pending[0] <= now:
            pending.pop(0)
        if due or done:
            report()


# -- NFSP -------------------------------------------------------------------------------------


def nfsp(game_name: str, seed: int):
    """NFSP's training chunk (one self-play episode) and the exploitability of its average
    policies."""
    import torch
    from open_spiel.python import policy as os_policy
    from open_spiel.python import rl_environment
    from open_spiel.python.algorithms import exploitability
    from open_spiel.python.pytorch import nfsp as os_nfsp

    np.random.seed(seed)  # noqa: NPY002 (OpenSpiel draws from the global generator)
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # faster than several threads for networks this small
    env = rl_environment.Environment(game_name)
    env.seed(seed)
    size = env.observation_spec()["info_state"][0]
    actions = env.action_spec()["num_actions"]
    hp = dict(NFSP_HPARAMS[game_name])
    hidden = hp.pop("hidden_layers_sizes")
    reservoir = hp.pop("reservoir_buffer_capacity")
    anticipatory = hp.pop("anticipatory_param")
    agents = [
        os_nfsp.NFSP(p, size, actions, hidden, reservoir, anticipatory, seed=seed + p, **hp)
        for p in range(env.num_players)
    ]

    class AveragePolicy(os_policy.Policy):
        """Both players' average-policy networks as one OpenSpiel policy."""

        def __init__(self) -> None:
            super().__init__(env.game, list(range(env.num_players)))

        def action_probabilities(self, state, player_id=None):
            player = state.current_player()
            legal = state.legal_actions(player)
            obs = {
                "info_state": [None] * env.num_players,
                "legal_actions": [None] * env.num_players,
                "current_player": player,
            }
            obs["info_state"][player] = state.information_state_tensor(player)
            obs["legal_actions"][player] = legal
            step = rl_environment.TimeStep(
                observations=obs, rewards=None, discounts=None, step_type=None
            )
            with agents[player].temp_mode_as(os_nfsp.MODE.AVERAGE_POLICY):
                probs = agents[player].step(step, is_evaluation=True).probs
            return {a: probs[a] for a in legal}

    average = AveragePolicy()

    def train() -> int:
        time_step, steps = env.reset(), 0
        while not time_step.last():
            player = time_step.observations["current_player"]
            time_step = env.step([agents[player].step(time_step).action])
            steps += 1
        for agent in agents:
            agent.step(time_step)
        return steps

    return train, lambda: float(exploitability.exploitability(env.game, average))


# -- PSRO with RL oracles ---------------------------------------------------------------------


def psro(game_name: str, seed: int, episodes_per_response: int, sims_per_entry: int):
    """One PSRO iteration (a DQN best response per player, trained against the meta-strategy,
    then the new meta-game entries) per chunk; the exploitability of the meta-Nash mixture."""
    import pyspiel
    from open_spiel.python import rl_environment
    from open_spiel.python.algorithms import exploitability, policy_aggregator
    from open_spiel.python.algorithms.psro_v2 import psro_v2, rl_oracle, rl_policy

    np.random.seed(seed)  # noqa: NPY002 (OpenSpiel draws from the global generator)
    game = pyspiel.load_game(game_name)
    env = rl_environment.Environment(game)
    env.seed(seed)
    steps = [0]
    env_step = env.step

    def counted_step(actions):
        steps[0] += 1
        return env_step(actions)

    env.step = counted_step
    kwargs = {
        "state_representation_size": env.observation_spec()["info_state"][0],
        "num_actions": env.action_spec()["num_actions"],
        **PSRO_DQN,
    }
    oracle = rl_oracle.RLOracle(
        env,
        rl_policy.DQNPolicy,
        kwargs,
        number_training_episodes=episodes_per_response,
        self_play_proportion=0.0,
        sigma=0.0,
    )
    initial = [rl_policy.DQNPolicy(env, p, **kwargs) for p in range(game.num_players())]
    for agent in initial:
        agent.freeze()
    solver = psro_v2.PSROSolver(
        game,
        oracle,
        initial_policies=initial,
        training_strategy_selector="probabilistic",
        rectifier="",
        sims_per_entry=sims_per_entry,
        number_policies_selected=1,
        meta_strategy_method="nash",
        sample_from_marginals=True,
        symmetric_game=False,
    )

    def train() -> int:
        before = steps[0]
        solver.iteration()
        return steps[0] - before

    def evaluate() -> float:
        aggregator = policy_aggregator.PolicyAggregator(game)
        mixture = aggregator.aggregate(
            range(game.num_players()), solver.get_policies(), solver.get_meta_strategies()
        )
        return float(exploitability.exploitability(game, mixture))

    return train, evaluate


# -- tabular CFR ------------------------------------------------------------------------------


def mccfr(game_name: str, seed: int):
    """Outcome-sampling MCCFR iterations for about 0.2 s per chunk."""
    import pyspiel

    game = pyspiel.load_game(game_name)
    solver = pyspiel.OutcomeSamplingMCCFRSolver(game, seed=seed)

    def train() -> int:
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            for _ in range(100):
                solver.run_iteration()
        return 0

    return train, lambda: float(pyspiel.exploitability(game, solver.average_policy()))


def cfr_plus(game_name: str, seed: int):
    """One CFR+ iteration (a full tree walk) per chunk."""
    import pyspiel

    game = pyspiel.load_game(game_name)
    solver = pyspiel.CFRPlusSolver(game)

    def train() -> int:
        solver.evaluate_and_update_policy()
        return 0

    return train, lambda: float(pyspiel.exploitability(game, solver.average_policy()))


ANCHORS = {"nfsp": nfsp, "psro": psro, "mccfr": mccfr, "cfr_plus": cfr_plus}


def main(argv: list[str]) -> None:
    algo, game_name, budget, schedule, seed, *options = argv
    clock = Clock()
    kwargs = {}
    if algo == "psro":
        kwargs = {**PSRO_OPTIONS, **(json.loads(options[0]) if options else {})}
    train, evaluate = ANCHORS[algo](game_name, int(seed), **kwargs)
    run(train, evaluate, float(budget), json.loads(schedule), clock)


if __name__ == "__main__":
    main(sys.argv[1:])
