"""Crowds: a crowd role's agents each draw a member of their own (config ``game.crowds``).

Checked without Ray: the spec's parties, the refusals at `league start`, the per-episode draws
(every agent gets a member of its role's population, with the distribution's frequencies,
independently per agent), the learner's tallies and the evaluation's cross-play seatings."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.league import matchmaking as mm
from metagame.league.config import validate
from metagame.league.evaluation import cross_play, seatings
from metagame.league.game_spec import game_spec
from metagame.league.runner import League
from metagame.league.sampling import outcomes, party_returns
from metagame.league.store import Match, Player

PURSUIT = {"num_pursuers": 3}


def test_a_crowd_role_has_one_party_per_agent():
    spec = game_spec("pursuit_evasion", PURSUIT, crowds=["pursuer"])
    assert spec.parties == {
        "pursuer_0": "pursuer",
        "pursuer_1": "pursuer",
        "pursuer_2": "pursuer",
        "evader": "evader",
    }
    assert [spec.party_of(a) for a in spec.agents] == [
        "pursuer_0",
        "pursuer_1",
        "pursuer_2",
        "evader",
    ]
    plain = game_spec("pursuit_evasion", PURSUIT)
    assert plain.parties == {"pursuer": "pursuer", "evader": "evader"}
    assert [plain.party_of(a) for a in plain.agents] == ["pursuer"] * 3 + ["evader"]
    team = game_spec("mapf", {"num_agents": 4}, crowds=["agent"])
    assert list(team.parties) == [f"player_{i}" for i in range(4)] and team.crowds == ("agent",)


@pytest.mark.parametrize(
    ("game", "crowds", "message"),
    [
        ({"name": "pursuit_evasion"}, ["hunter"], "'hunter' is not a role of pursuit_evasion"),
        ({"name": "pursuit_evasion"}, ["evader"], "role 'evader' of pursuit_evasion has one agent"),
        (
            {"name": "openspiel:kuhn_poker", "kwargs": {"players": 3}},
            ["player_0"],
            "has one agent",
        ),
        (
            {"name": "traffic", "kwargs": {"scenario": "grid", "num_controlled": 3}},
            ["vehicle"],
            None,
        ),
    ],
)
def test_crowds_are_checked_at_start(game, crowds, message, tmp_path):
    data = {"game": {**game, "crowds": crowds}}
    if message is None:  # a valid crowd passes every start check (RLlib's included)
        League(validate(data), tmp_path / "run").check()
    else:
        with pytest.raises(ValueError, match=f"config key game.crowds: .*{message}"):
            League(validate(data), tmp_path / "run").check()
    assert not (tmp_path / "run").exists()


def test_a_crowd_tied_to_other_roles_is_refused():
    with pytest.raises(ValueError, match="shares its population with roles"):
        game_spec("pursuit_evasion", {"num_pursuers": 2}, roles="tied", crowds=["pursuer"])


@st.composite
def tables(draw):
    """A random match table: 1-3 populations, each with a learner, a crowd of 1-4 parties or
    one party, frozen players in slots and a random distribution per learner."""
    n_pops = draw(st.integers(1, 3))
    pops = [f"pop{k}" for k in range(n_pops)]
    parties = {}
    for pop in pops:
        size = draw(st.integers(1, 4))
        parties |= {f"{pop}/agent_{i}": pop for i in range(size)}
    learners = {f"learner_{pop}": pop for pop in pops}
    frozen = {pop: [f"{pop}_p{i}" for i in range(draw(st.integers(0, 4)))] for pop in pops}
    slots = {pop: [f"slot_{pop}_{i}" for i in range(draw(st.integers(1, 3)))] for pop in pops}
    weights = st.floats(0.01, 1.0)
    dists = {}
    for learner in learners:
        dists[learner] = {}
        for pop in pops:
            labels = frozen[pop] + [m for m, p in learners.items() if p == pop]
            dists[learner][pop] = {label: draw(weights) for label in labels}
    seed = draw(st.integers(0, 2**16))
    table = mm.plan_slots(dists, learners, parties, slots, np.random.default_rng(seed))
    return table, frozen, seed


@settings(max_examples=25)
@given(tables())
def test_every_agent_of_a_crowd_gets_a_member_of_its_roles_population(case):
    table, frozen, seed = case
    rng = np.random.default_rng(seed)
    member_of = {p: pop for pop, ids in frozen.items() for p in ids} | dict(table.learners)
    for _ in range(200):
        a = mm.draw_assignment(table, rng)
        assert set(a.labels) == set(a.modules) == set(table.parties)
        assert table.parties[a.party] == table.learners[a.learner]
        assert a.labels[a.party] == a.modules[a.party] == a.learner
        for party, label in a.labels.items():
            assert member_of[label] == table.parties[party]  # a member of the party's population
            module = a.modules[party]  # and the module playing it holds that member
            assert module == label if label in table.learners else table.slots[module] == label


@settings(max_examples=10)
@given(tables())
def test_each_crowd_agent_draws_from_the_learners_distribution(case):
    """Conditioned on the learner, every other party's label follows the learner's options for
    its population (within 5 standard errors)."""
    table, _, seed = case
    rng = np.random.default_rng(seed + 1)
    draws = [mm.draw_assignment(table, rng) for _ in range(3000)]
    for learner in table.learners:
        mine = [d for d in draws if d.learner == learner]
        for party, pop in table.parties.items():
            seen = [d.labels[party] for d in mine if d.party != party]
            if len(seen) < 100:
                continue
            for _, label, p in table.opponents[learner][pop]:
                freq = np.mean([s == label for s in seen])
                assert abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / len(seen)) + 1e-9


def test_crowd_agents_draw_independently():
    """Two agents of one crowd: their joint frequencies are the product of the marginals, and
    the learner plays each agent of its crowd equally often."""
    parties = {"v0": "vehicle", "v1": "vehicle", "v2": "vehicle"}
    dists = {"main": {"vehicle": {"a": 0.5, "b": 0.3, "main": 0.2}}}
    slots = {"vehicle": ["slot_0", "slot_1"]}
    table = mm.plan_slots(dists, {"main": "vehicle"}, parties, slots, np.random.default_rng(0))
    rng = np.random.default_rng(3)
    draws = [mm.draw_assignment(table, rng) for _ in range(30000)]
    assert [np.mean([d.party == p for d in draws]) for p in parties] == pytest.approx(
        [1 / 3] * 3, abs=0.01
    )
    pair = [(d.labels["v1"], d.labels["v2"]) for d in draws if d.party == "v0"]
    p = {"a": 0.5, "b": 0.3, "main": 0.2}
    for x, y in itertools.product(p, p):
        assert np.mean([q == (x, y) for q in pair]) == pytest.approx(p[x] * p[y], abs=0.012)


def test_tallies_credit_each_agent_to_the_member_it_played():
    """The learner's party against each opponent label: the mean return of the parties that
    label played (here two crowd agents played `a`, one `b`, the evader `e`)."""
    agent_parties = {"p0": "p0", "p1": "p1", "p2": "p2", "e0": "evader", "e1": "evader"}
    returns = party_returns({"p0": 1.0, "p1": 3.0, "p2": 0.5, "e0": -1.0}, agent_parties)
    assert returns == {"p0": 1.0, "p1": 3.0, "p2": 0.5, "evader": -0.5}  # a missing agent: 0
    a = mm.Assignment(
        "main",
        "p0",
        {"p0": "main", "p1": "slot_0", "p2": "slot_1", "evader": "slot_2"},
        {"p0": "main", "p1": "a", "p2": "a", "evader": "e"},
    )
    assert outcomes(a, returns) == {"a": 2, "e": 0}  # 1.0 < mean(3.0, 0.5); 1.0 > -0.5
    b = mm.Assignment("main", "p2", a.modules, {**a.labels, "p2": "main", "p0": "b"})
    assert outcomes(b, returns) == {"b": 2, "a": 2, "e": 0}  # 0.5 < 1.0, 0.5 < 3.0, 0.5 > -0.5


def _players(population, n, start=0):
    return [
        Player(f"{population}_{k}", start + k, "main", population, None, 0, 0, "", 0.0, "", None)
        for k in range(n)
    ]


def test_crowd_seatings_split_the_crowd_between_two_members():
    spec = game_spec("pursuit_evasion", PURSUIT, crowds=["pursuer"])
    players = _players("pursuer", 3) + _players("evader", 2, start=3)
    blocks = seatings(spec, players)
    crowd = [b for b in blocks if b.prefix]
    assert len(blocks) - len(crowd) == 6  # the profiles: one member per role
    assert len(crowd) == 3 * 2  # every pair of pursuers against every evader
    for b in crowd:
        assert b.seats == ("pursuer/even", "pursuer/odd", "evader")
        assert b.agent_seats == (0, 1, 0, 2)  # pursuer_0, pursuer_1, pursuer_2, evader_0
        assert [p.population for p in b.players] == ["pursuer", "pursuer", "evader"]
        assert b.players[0].id < b.players[1].id
    team = game_spec("mapf", {"num_agents": 5})
    (block,) = [b for b in seatings(team, _players("agent", 2)) if b.prefix]
    assert block.agent_seats == (0, 1, 0, 1, 0) and block.seats == ("agent/even", "agent/odd")


def test_cross_play_reads_the_split_seats_of_a_crowd():
    def match(players, seats, returns, key):
        return Match(0, key, 0, players, seats, "", returns, 1, 0, None)

    seats = ["pursuer/even", "pursuer/odd", "evader"]
    matches = [
        match(["a", "b", "e"], seats, [1.0, 3.0, -9.0], "x|1"),
        match(["a", "b", "f"], seats, [2.0, 4.0, 9.0], "x|2"),
        match(["a", "e"], ["pursuer", "evader"], [5.0, -5.0], "y"),  # a profile: not cross-play
    ]
    table = cross_play(matches, ["a", "b"])
    np.testing.assert_allclose(table, [[np.nan, 2.5], [2.5, np.nan]])


def test_a_crowds_ratings_credit_every_seat_to_its_member():
    """One-role crowd: mu averages each member's seat returns, alone and in cross-play (a team
    keeps its own matches only)."""
    from metagame.league.ratings import standings

    seats = ["vehicle/even", "vehicle/odd"]
    matches = [
        Match(0, "a|0", 0, ["a"], ["vehicle"], "", [1.0], 1, 0, None),
        Match(1, "b|0", 0, ["b"], ["vehicle"], "", [4.0], 1, 0, None),
        Match(2, "x|a|b|0", 0, ["a", "b"], seats, "", [3.0, -2.0], 1, 0, None),
    ]
    flat = np.full(2, 0.5)
    kwargs = {"nash": flat, "nash_rating": flat, "alpharank": flat, "one_player": True}
    crowd = standings(matches, ["a", "b"], crowd=True, **kwargs)
    np.testing.assert_allclose(crowd.mu, [2.0, 1.0])
    np.testing.assert_allclose(crowd.sigma, [1.0, 3.0])
    team = standings(matches, ["a", "b"], **kwargs)
    np.testing.assert_allclose(team.mu, [1.0, 4.0])


TINY = {"lr": 0.001, "train_batch_size_per_learner": 128, "minibatch_size": 64, "num_epochs": 1}


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_a_crowd_league_on_rllib_draws_one_member_per_agent(tmp_path):
    """Pursuit-evasion with the pursuers a crowd, on real RLlib: in sampled episodes every
    pursuer plays the module of its own draw (teammates differ), the learner's tallies count
    its crowd-mates, and the evaluation's cross-play matches credit each pursuer's return to
    the member it played (checked by replaying them)."""
    from metagame.agents.arena import play
    from metagame.league.evaluation import CROSS_PLAY, stable_seed
    from metagame.league.population import load_player
    from metagame.league.sampling import ASSIGNMENT_KEY

    cfg = validate(
        {
            "game": {
                "name": "pursuit_evasion",
                "kwargs": {"num_pursuers": 2},
                "crowds": ["pursuer"],
            },
            "learners": {"hparams": TINY, "model": {"fcnet_hiddens": [16]}},
            "mode": {"name": "selfplay", "snapshot_every": 1, "self_fraction": 0.3},
            "evaluation": {"episodes_per_pair": 2, "replay_fraction": 0.0},
            "budget": {"iterations": 2},
            "ray": {"num_env_runners": 0},
        }
    )
    lg = League(cfg, tmp_path / "run")
    lg.setup()
    try:
        lg.step()
        lg.step()
        games = lg.store.iterations()[-1]["metrics"]["games"]
        pops = {p.id: p.population for p in lg.store.players()} | {
            t.module: t.population for t in lg.trainees
        }
        met = {pops[k.split(" vs ")[1]] for k in games if k.startswith("main_pursuer vs")}
        assert met == {"pursuer", "evader"}  # crowd-mates and evaders
        lg._install()
        episodes = lg.algo.env_runner.sample(num_episodes=40, random_actions=False)
        mixed = 0
        for e in episodes:
            assignment = e.custom_data[ASSIGNMENT_KEY]
            modules = {a: sa.module_id for a, sa in e.agent_episodes.items()}
            for agent, module in modules.items():
                assert module == assignment.modules[lg.spec.party_of(agent)]
            assert modules.get(assignment.party, assignment.learner) == assignment.learner
            mixed += modules["pursuer_0"] != modules["pursuer_1"]
        assert mixed > 0
        players = {p.id: p for p in lg.store.players()}
        crossed = [m for m in lg.store.matches() if m.key.startswith(CROSS_PLAY)]
    finally:
        lg.algo.stop()
        lg.store.close()
        lg.run_dir.release()
    assert crossed and all(m.seats == ["pursuer/even", "pursuer/odd", "evader"] for m in crossed)
    assert {pops[p] for m in crossed for p in m.players[:2]} == {"pursuer"}
    m = crossed[-1]
    policies = [load_player(tmp_path / "run", players[pid]) for pid in m.players]
    k = int(m.key.rsplit("|", 1)[1])
    seed = stable_seed(cfg.seed, CROSS_PLAY, *m.players)
    again = play(
        "pursuit_evasion",
        [policies[0], policies[1], policies[2]],  # pursuer_0, pursuer_1, evader_0
        episodes=k + 1,
        seed=seed,
        env_kwargs={"num_pursuers": 2},
    )
    np.testing.assert_allclose(m.returns, again.returns[k])
