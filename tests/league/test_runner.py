"""League runs on real Ray/RLlib with tiny budgets: self-play, one-player, preference,
AlphaStar and PSRO modes, sharing one local Ray instance."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from metagame.league.config import validate
from metagame.league.population import load_player, player_weights, solve_population
from metagame.league.runner import League
from metagame.league.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_local")]

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "lr": 0.001,
    "train_batch_size_per_learner": 64,
    "minibatch_size": 32,
    "num_epochs": 1,
    "rollout_fragment_length": 16,
}


def league(tmp_path, game, **overrides):
    data = {
        "game": game,
        "learners": {"hparams": TINY, "model": {"fcnet_hiddens": [16]}},
        "evaluation": {"episodes_per_pair": 4, "replay_fraction": 0.5},
        "matchmaking": {"slots": 2},
        "budget": {"iterations": 3},
        "mode": {"name": "selfplay", "snapshot_every": 1},
        "ray": {"num_env_runners": 1},
        **overrides,
    }
    lg = League(validate(data), tmp_path / "run")
    lg.setup()
    return lg


def close(lg):
    lg.algo.stop()
    lg.store.close()
    lg.run_dir.release()


def test_selfplay_keeps_a_fixed_set_of_modules_and_counts_games(tmp_path):
    lg = league(tmp_path, {"name": "openspiel:kuhn_poker"})
    try:
        # PPO trainees learn with the whole-batch loop (RLlib's updates, cheaper)
        assert type(lg.algo.learner_group._learner).__name__ == "WholeBatchPPOLearner"
        infos = [lg.step() for _ in range(3)]
        modules = {"main", "slot_0", "slot_1"}
        assert set(lg.algo.config.policies) == modules
        assert set(lg.algo.learner_group.get_weights()) == modules
        store = lg.store
        players = store.players()
        assert [p.id for p in players] == ["main_000", "main_001", "main_002", "main_003"]
        assert [p.parent for p in players] == [None, "main_000", "main_001", "main_002"]
        # matchmaking counts come back from the remote EnvRunner through RLlib's metrics
        for it in store.iterations():
            games = it["metrics"]["games"]
            assert games and sum(sum(v) for v in games.values()) > 0
            opponents = {k.split(" vs ")[1] for k in games}
            assert opponents <= set(it["metrics"]["slots"].values()) | {"main"}
        # every pair of players has exactly episodes_per_pair evaluation matches
        counts = {}
        for m in store.matches():
            pair = tuple(sorted(m.players))
            counts[pair] = counts.get(pair, 0) + 1
        assert len(counts) == 6 and set(counts.values()) == {4}
        assert {r["player"] for r in store.ratings()} == {p.id for p in players}
        assert all(i.exploitability is not None for i in infos)
        assert any(m.replay for m in store.matches())
    finally:
        close(lg)


def test_one_player_game_keeps_snapshots_rated_by_return(tmp_path):
    lg = league(tmp_path, {"name": "gym:CartPole-v1"}, budget={"iterations": 2})
    try:
        lg.step()
        lg.step()
        answer = solve_population(lg.store)
        (players,), (probs,) = answer.players.values(), answer.probs.values()
        assert len(players) == 3 and lg.algo.config.is_multi_agent is False
        returns = [
            np.mean([m.returns[0] for m in lg.store.matches() if m.players == [p.id]])
            for p in players
        ]
        assert probs[int(np.argmax(returns))] == 1.0
        rows = {r["player"]: r for r in lg.store.ratings()}
        np.testing.assert_allclose([rows[p.id]["mu"] for p in players], returns)
    finally:
        close(lg)


def test_alphastar_roles_snapshot_and_reset_exploiters(tmp_path):
    lg = league(
        tmp_path,
        {"name": "openspiel:kuhn_poker"},
        mode={"name": "alphastar", "snapshot_timeout_steps": 1},
    )
    try:
        lg.step()
        kinds = {p.kind for p in lg.store.players()}
        assert kinds == {"main", "main_exploiter", "league_exploiter"}
        assert len(lg.store.players()) == 6  # initial and one snapshot per trainee
        after = lg.trainee_weights("main_exploiter_0")
        # its first snapshot, taken at setup, holds the initial weights
        (first,) = [p for p in lg.store.players() if p.id.startswith("main_exploiter_0")][:1]
        assert first.parent is None
        initial = player_weights(lg.run_dir.path, first)
        assert initial.keys() == after.keys()
        for key, value in initial.items():
            np.testing.assert_array_equal(after[key], value)
    finally:
        close(lg)


def test_psro_trains_responses_to_the_meta_strategy(tmp_path):
    lg = league(
        tmp_path,
        {"name": "openspiel:kuhn_poker"},
        mode={"name": "psro", "meta_solver": "nash", "iterations_per_response": 1},
    )
    try:
        lg.step()
        lg.step()
        metas = lg.store.meta_strategies()
        assert [m["solver"] for m in metas] == ["nash"] * 3
        assert [len(m["players"]) for m in metas] == [1, 2, 3]
        assert all(np.isclose(sum(m["probs"]), 1.0) for m in metas)
        # the response faced the previous meta-strategy's support only
        games = lg.store.iterations()[-1]["metrics"]["games"]
        support = {p for p, q in zip(metas[-2]["players"], metas[-2]["probs"]) if q > 0}
        assert {k.split(" vs ")[1] for k in games} <= support
    finally:
        close(lg)


def test_preference_league_reports_a_minimax_winner(tmp_path):
    lg = league(tmp_path, {"name": "preference"}, budget={"iterations": 1})
    try:
        lg.step()
    finally:
        close(lg)
    with Store(tmp_path / "run") as store:
        answer = solve_population(store, "minimax-winner")
    (players,), (probs,) = answer.players.values(), answer.probs.values()
    assert len(players) == 2 and np.isclose(probs.sum(), 1.0)


def test_psro_rl_response_nears_the_exact_best_response_on_kuhn(tmp_path):
    """PSRO's RL oracle with the quickstart's learner: a PPO response trained from scratch for
    10 iterations against the initial network earns, against it, within 0.05 of OpenSpiel's
    exact best response in each seat, and the league's exact exploitability falls."""
    from open_spiel.python.algorithms import best_response, expected_game_score

    from metagame.envs.registration import make
    from metagame.league.evaluation import policy_cache
    from metagame.league.exploitability import mixture_policy

    quick = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    lg = league(
        tmp_path,
        quick["game"],
        learners=quick["learners"],
        mode={"name": "psro", "iterations_per_response": 10, "reset_response": True},
        evaluation={"episodes_per_pair": 4, "replay_fraction": 0.0},
        ray=quick["ray"],
    )
    try:
        infos = [lg.step() for _ in range(10)]
        with Store(tmp_path / "run") as store:
            first, response = store.players()
    finally:
        close(lg)
    bridge = make("openspiel:kuhn_poker").unwrapped
    game, load = bridge.game, policy_cache(tmp_path / "run")
    target, trained = (mixture_policy(bridge, [load(p)], [1.0]) for p in (first, response))
    root = game.new_initial_state()
    for seat in (0, 1):
        best = best_response.BestResponsePolicy(game, seat, target).value(root)
        seats = [target, target]
        seats[seat] = trained
        assert expected_game_score.policy_value(root, seats)[seat] > best - 0.05
    assert infos[-1].exploitability < infos[0].exploitability


def test_psro_with_the_exact_oracle_drives_kuhn_toward_nash(tmp_path):
    """Each iteration adds OpenSpiel's best response to the meta-strategy (no RL training).
    With the meta-game's entries exact (the default for Kuhn) this is the double oracle
    algorithm (McMahan et al. 2003), which ends at an exact Nash equilibrium of a finite game:
    here after 7 responses, from the random network's 1/3."""
    lg = league(
        tmp_path,
        {"name": "openspiel:kuhn_poker"},
        mode={"name": "psro", "oracle": "exact"},
        evaluation={"episodes_per_pair": 200, "replay_fraction": 0.0},
    )
    try:
        infos = [lg.step() for _ in range(8)]
    finally:
        close(lg)
    curve = [i.exploitability for i in infos]
    assert all(i.steps == 0 for i in infos)  # nothing was trained
    assert curve[0] == pytest.approx(1 / 3) and curve[-1] < 1e-9
    with Store(tmp_path / "run") as store:
        reasons = [p.reason for p in store.players()][1:]
        assert len(store.expected_returns()) == 8 * 9  # every ordered pair of the 9 players
    assert len(reasons) == 8 and all(r.startswith("exact best response") for r in reasons)


def test_restricted_game_answer_is_the_cfr_plus_equilibrium_of_the_players_actions(tmp_path):
    """``evaluation.answer: restricted_game`` records, each iteration, the exploitability of
    the restricted game's equilibrium over the active players' proposed actions, recomputed
    here from the saved players; it is never worse than the game's value gap of the first
    player alone, and with the exact oracle it reaches Nash as the meta-strategy does."""
    from metagame.agents.restricted_game import proposed_actions, solve_restricted
    from metagame.agents.sequence_form import SequenceForm
    from metagame.envs.registration import make

    lg = league(
        tmp_path,
        {"name": "openspiel:kuhn_poker"},
        mode={"name": "psro", "oracle": "exact"},
        evaluation={"episodes_per_pair": 20, "replay_fraction": 0.0, "answer": "restricted_game"},
    )
    try:
        infos = [lg.step() for _ in range(3)]
    finally:
        close(lg)
    form = SequenceForm(make("openspiel:kuhn_poker").unwrapped)
    with Store(tmp_path / "run") as store:
        players = store.players(active_only=True)
    tables = np.stack([form.policy_table(load_player(tmp_path / "run", p)) for p in players])
    solution = solve_restricted(form, proposed_actions(form, tables), 1000)
    assert infos[-1].exploitability == pytest.approx(form.exploitability(solution.table))
    assert infos[-1].exploitability < infos[0].exploitability


def test_xdo_trains_responses_against_the_restricted_equilibrium_on_kuhn(tmp_path):
    """XDO's trainee meets only the table module that plays the restricted game's equilibrium
    (its games are counted against that label), and a few short responses bring Kuhn's
    exploitability down from the first network's."""
    quick = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    lg = league(
        tmp_path,
        quick["game"],
        learners=quick["learners"],
        mode={"name": "xdo", "iterations_per_response": 4, "reset_response": True},
        evaluation={"episodes_per_pair": 4, "replay_fraction": 0.0},
        ray=quick["ray"],
    )
    try:
        infos = [lg.step() for _ in range(12)]
        opponents = {b for (_, b) in lg.store.games()}
        assert "restricted_nash" in lg.algo.config.policies
        assert "restricted_nash" not in lg.algo.config.policies_to_train
    finally:
        close(lg)
    assert opponents == {"restricted_nash"}
    assert sum(bool(i.new_players) for i in infos) == 3
    assert infos[-1].exploitability < min(0.2, infos[0].exploitability)
    # `league solve --solver restricted-game` writes the answer as a policy that plays it
    from metagame.agents.policy import load_policy
    from metagame.league.cli import solve_data, status_data
    from metagame.league.exploitability import mixture_exploitability

    assert status_data(str(tmp_path / "run"))["answer"] == "restricted-game equilibrium"
    data = solve_data(str(tmp_path / "run"), "restricted-game", tmp_path / "answer")
    assert data["exploitability"] == pytest.approx(infos[-1].exploitability)
    answer = load_policy(tmp_path / "answer")
    replayed = mixture_exploitability("openspiel:kuhn_poker", {}, [answer], [1.0])
    assert replayed == pytest.approx(data["exploitability"], abs=1e-6)


def test_mmd_learner_trains_in_the_league_and_refreshes_the_trainee_magnet(tmp_path):
    from metagame.agents.rllib.magnet import magnet_state

    lg = league(
        tmp_path,
        {"name": "openspiel:kuhn_poker"},
        learners={
            "algo": "MMD",
            "hparams": {**TINY, "magnet_kl_coeff": 0.1, "magnet_update_every": 1},
            "model": {"fcnet_hiddens": [16]},
        },
        budget={"iterations": 2},
    )
    try:
        assert type(lg.algo.learner_group._learner).__name__ == "WholeBatchMagnetPPOLearner"
        lg.step()
        lg.step()
        state = magnet_state(lg.algo)
    finally:
        close(lg)
    assert lg.iteration == 2 and state["main"]["updates"] >= 1  # refreshed every update


def test_mappo_trains_a_team_league_with_a_central_critic(tmp_path):
    """`learners.algo: MAPPO` on a MAPF team: one iteration trains the shared actor and the
    critic on the global state, and the snapshot is a MAPPO module the evaluation plays."""
    from metagame.agents.rllib.mappo import MAPPOTorchRLModule

    lg = league(
        tmp_path,
        {"name": "mapf", "kwargs": {"map": "empty-8-8", "num_agents": 4, "max_steps": 16}},
        learners={"algo": "MAPPO", "hparams": TINY, "model": {"fcnet_hiddens": [16]}},
        evaluation={"episodes_per_pair": 2, "replay_fraction": 0.0},
        ray={"num_env_runners": 0},
    )
    try:
        before = lg.trainee_weights("main")
        info = lg.step()
        after = lg.trainee_weights("main")
        players = lg.store.players()
        policy = load_player(lg.run_dir.path, players[-1])
    finally:
        close(lg)
    assert info.steps > 0 and [p.id for p in players] == ["main_000", "main_001"]
    critic = [k for k in before if k.startswith("state_net.")]
    assert critic and any(not np.array_equal(before[k], after[k]) for k in critic)
    assert isinstance(policy.module, MAPPOTorchRLModule)
    with Store(tmp_path / "run") as store:
        answer = solve_population(store)
    assert np.isclose(answer.probs["agent"].sum(), 1.0)
