"""The LLM duel's league (``metagame.league.sequence``) on a tiny random GPT-2 built here: every
snapshot is a player, the win-rate matrix is judged on held-out prompts in both seatings, the
answer is its minimax winner (checked against support enumeration), also for a soft judge whose
probabilities are averaged rather than thresholded, and a resumed league equals one that ran
straight through."""

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.envs.preference.judges import CallableJudge
from metagame.envs.preference.prompts import load_prompts, prompts_path
from metagame.envs.preference.tiny_lm import save_tiny_gpt2
from metagame.league.config import validate
from metagame.league.population import load_player, solve_population
from metagame.league.runner import league_for
from metagame.league.sequence import SequenceLeague, verdict
from metagame.league.store import Store

ITERATIONS = 3


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    prompts = load_prompts()
    texts = [p.text for p in prompts] + [p.reference for p in prompts]
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"), texts, seed=0)


def duel_config(model: Path, **changes):
    data = {
        "name": "duel",
        "game": {
            "name": "llm_duel",
            "kwargs": {"model": str(model), "judge": "rules", "max_tokens": 8},
            "eval_kwargs": {"prompts": "bundled:prompts_heldout"},
        },
        "learners": {
            "algo": "Nash-MD",
            "hparams": {
                "group": 2,
                "prompts_per_step": 4,
                "beta": 0.1,
                "lr": 0.003,
                "updates_per_iteration": 2,
            },
        },
        "mode": {"name": "selfplay", "snapshot_every": 1},
        "evaluation": {"episodes_per_pair": 16},
        "budget": {"iterations": ITERATIONS},
        "seed": 3,
    }
    cfg = validate(data)
    return cfg.with_overrides(**changes) if changes else cfg


@pytest.fixture(scope="module")
def league_run(tiny_lm, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("duel") / "run"
    info = league_for(duel_config(tiny_lm), run_dir).run()
    return run_dir, info


def win_rates(matches, ids):
    """W[i, j]: the mean of Pr(i's answer preferred) over the matches with i in seat 0 and j in
    seat 1 (NaN where none), and the item numbers each ordered pair was judged on."""
    index = {pid: k for k, pid in enumerate(ids)}
    total, count = np.zeros((len(ids), len(ids))), np.zeros((len(ids), len(ids)))
    items = {}
    for m in matches:
        i, j = index[m.players[0]], index[m.players[1]]
        total[i, j] += (m.returns[0] + 1) / 2
        count[i, j] += 1
        items.setdefault((i, j), set()).add(int(m.key.rsplit("|", 1)[1]))
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), items


def minimax_winners(W: np.ndarray, tol: float = 1e-9) -> list[np.ndarray]:
    """Every extreme von Neumann winner of W by support enumeration: for each support S, the
    mixture p on S with (p W)_j = 1/2 on S, kept where p >= 0 and min_j (p W)_j >= 1/2."""
    n = len(W)
    found = []
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            S = list(support)
            A = np.vstack([W[np.ix_(S, S)].T, np.ones(size)])
            b = np.append(np.full(size, 0.5), 1.0)
            q, *_ = np.linalg.lstsq(A, b, rcond=None)
            if not np.allclose(A @ q, b, atol=1e-9) or (q < -tol).any():
                continue
            p = np.zeros(n)
            p[S] = np.clip(q, 0.0, None)
            if (p @ W >= 0.5 - tol).all() and not any(np.allclose(p, f) for f in found):
                found.append(p)
    return found


@pytest.mark.slow
def test_every_snapshot_is_a_player_that_loads_as_its_model(league_run):
    run_dir, info = league_run
    assert info.status == "finished" and info.iteration == ITERATIONS
    with Store(run_dir, readonly=True) as store:
        players = store.players()
    assert len(players) == ITERATIONS + 1 >= 2  # the initial model and one snapshot a round
    assert [p.parent for p in players] == [None] + [p.id for p in players[:-1]]
    assert all(p.step > q.step for p, q in zip(players[1:], players))  # generated tokens
    first, last = (load_player(run_dir, p) for p in (players[0], players[-1]))
    assert first.kind == last.kind == "causal_lm"
    moved = [
        not torch.equal(a, b)
        for a, b in zip(first.model.state_dict().values(), last.model.state_dict().values())
    ]
    assert any(moved)  # training changed the weights the players were saved with


@pytest.mark.slow
def test_the_win_rate_matrix_is_judged_on_held_out_prompts_in_both_seatings(league_run):
    run_dir, _ = league_run
    with Store(run_dir, readonly=True) as store:
        ids = [p.id for p in store.players()]
        matches = store.matches()
    W, items = win_rates(matches, ids)
    n = len(ids)
    per_seating = 16 // 2
    for i, j in itertools.permutations(range(n), 2):
        assert items[i, j] == set(range(per_seating))  # both seatings on the same items
        assert W[i, j] + W[j, i] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(np.diag(W)).all()
    assert all(m.seats == ["player_0", "player_1"] for m in matches)
    assert len(matches) == n * (n - 1) * per_seating
    # every judged prompt is a held-out one
    held_out = {p.text for p in load_prompts(prompts_path("bundled:prompts_heldout"))}
    assert held_out.isdisjoint({p.text for p in load_prompts()})


@pytest.mark.slow
def test_the_answer_is_the_minimax_winner_of_the_win_rate_matrix(league_run):
    run_dir, _ = league_run
    with Store(run_dir, readonly=True) as store:
        ids = [p.id for p in store.players()]
        W, _ = win_rates(store.matches(), ids)
        recorded = store.meta_strategies()[-1]
        answers = {s: solve_population(store, s) for s in ("nash", "minimax-winner")}
    np.fill_diagonal(W, 0.5)
    winners = minimax_winners(W)
    assert winners  # a von Neumann winner always exists
    candidates = {"recorded": np.array([dict(zip(recorded["players"], recorded["probs"]))[p]
                                        for p in ids])}  # fmt: skip
    for solver, answer in answers.items():
        by_id = dict(zip([p.id for p in answer.players["player"]], answer.probs["player"]))
        candidates[solver] = np.array([by_id[p] for p in ids])
    for name, p in candidates.items():
        assert p.sum() == pytest.approx(1.0) and (p >= -1e-12).all(), name
        assert (p @ W).min() >= 0.5 - 1e-7, name  # no player beats it
        if len(winners) == 1:
            np.testing.assert_allclose(p, winners[0], atol=1e-7, err_msg=name)


def judged_store(run_dir: Path, answers: dict[str, list[str]], judge: CallableJudge) -> list[str]:
    """A duel league's store whose players (named by ``answers``) answered item k with
    ``answers[player][k]``: every ordered pair judged on every item by ``judge`` and recorded
    as :class:`SequenceLeague` records a verdict. Returns the player ids."""
    cfg = duel_config(Path("builtin:tiny-gpt2"))
    prompts = load_prompts(prompts_path("bundled:prompts_heldout"))
    with Store(run_dir, create=True) as store:
        store.set_meta(
            config=cfg.model_dump(mode="json"), roles={"player_0": "player", "player_1": "player"}
        )
        ids = [
            store.add_player(name, kind="causal_lm", population="player", parent=None, step=0,
                             iteration=0, checkpoint=f"players/{name}", reason="x").id
            for name in answers
        ]  # fmt: skip
        for (i, a), (j, b) in itertools.permutations(zip(ids, answers.values()), 2):
            for k, (x, y) in enumerate(zip(a, b)):
                p = judge.compare(prompts[k % len(prompts)], x, y)
                store.record_match(f"{i}|{j}|{k}", iteration=0, players=[i, j],
                                   seats=["player_0", "player_1"], **verdict([i, j], p),
                                   length=1, seed=0)  # fmt: skip
    return ids


def league_answers(run_dir: Path, ids: list[str]) -> dict[str, np.ndarray]:
    """Each solver's mixture over ``ids``."""
    with Store(run_dir, readonly=True) as store:
        answers = {s: solve_population(store, s) for s in ("nash", "minimax-winner")}
    mixtures = {}
    for solver, answer in answers.items():
        by_id = dict(zip([p.id for p in answer.players["player"]], answer.probs["player"]))
        mixtures[solver] = np.array([by_id[p] for p in ids])
    return mixtures


def test_a_soft_judge_is_averaged_not_thresholded(tmp_path):
    """x beats y on three items of four by 0.55 and loses the fourth by 0.95: counted as wins
    x is the Condorcet winner, by mean preference (0.4125) y is; z loses to both."""
    table = {("x1", "y"): 0.55, ("x2", "y"): 0.05, ("x1", "z"): 0.7, ("x2", "z"): 0.7}
    table[("y", "z")] = 0.7

    def soft(prompt, a, b):
        return table[a, b] if (a, b) in table else 1.0 - table[b, a]

    answers = {"x": ["x1", "x1", "x1", "x2"], "y": ["y"] * 4, "z": ["z"] * 4}
    ids = judged_store(tmp_path / "run", answers, CallableJudge(soft))
    with Store(tmp_path / "run", readonly=True) as store:
        matches = store.matches()
    W, _ = win_rates(matches, ids)
    np.fill_diagonal(W, 0.5)
    np.testing.assert_allclose(W + W.T, 1.0, atol=1e-12)
    counted = np.full((3, 3), 0.5)
    for (i, j), _ in np.ndenumerate(counted):
        verdicts = [m.returns[0] for m in matches if m.players == [ids[i], ids[j]]]
        if i != j:
            counted[i, j] = np.mean([(r > 0) + 0.5 * (r == 0) for r in verdicts])
    (averaged,), (thresholded,) = minimax_winners(W), minimax_winners(counted)
    np.testing.assert_allclose(averaged, [0, 1, 0])
    np.testing.assert_allclose(thresholded, [1, 0, 0])
    for solver, mixture in league_answers(tmp_path / "run", ids).items():
        np.testing.assert_allclose(mixture, averaged, atol=1e-7, err_msg=solver)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=4 * 3 * 3, max_size=4 * 3 * 3),
    st.integers(2, 4),
)
def test_minimax_winner_of_soft_verdicts_is_the_brute_force_one(values, n):
    """For any soft judge, ``league solve --solver minimax-winner`` (and ``nash``) answer a von
    Neumann winner of the mean-preference matrix, the one support enumeration finds when it
    is unique."""
    items = 3
    answers = {f"p{i}": [f"{i}-{k}" for k in range(items)] for i in range(n)}
    pairs = [(f"{i}-{k}", f"{j}-{k}") for i, j in itertools.combinations(range(n), 2)
             for k in range(items)]  # fmt: skip
    table = dict(zip(pairs, values))

    def soft(prompt, a, b):
        return table[a, b] if (a, b) in table else 1.0 - table[b, a]

    with tempfile.TemporaryDirectory() as tmp:
        ids = judged_store(Path(tmp) / "run", answers, CallableJudge(soft))
        with Store(Path(tmp) / "run", readonly=True) as store:
            W, _ = win_rates(store.matches(), ids)
        mixtures = league_answers(Path(tmp) / "run", ids)
    np.fill_diagonal(W, 0.5)
    winners = minimax_winners(W)
    for solver, p in mixtures.items():
        assert p.sum() == pytest.approx(1.0) and (p >= -1e-12).all(), solver
        assert (p @ W).min() >= 0.5 - 1e-7, solver
        if len(winners) == 1:
            np.testing.assert_allclose(p, winners[0], atol=1e-6, err_msg=solver)


@pytest.mark.slow
def test_a_resumed_duel_league_equals_one_run_straight_through(tiny_lm, league_run, tmp_path):
    straight, _ = league_run
    cfg = duel_config(tiny_lm)
    first = league_for(cfg.with_overrides(**{"budget.iterations": 1}), tmp_path / "run").run()
    assert first.iteration == 1
    resumed = league_for(cfg, tmp_path / "run", resume=True).run()
    assert resumed.iteration == ITERATIONS
    with Store(straight, readonly=True) as a, Store(tmp_path / "run", readonly=True) as b:
        assert [(p.id, p.step) for p in a.players()] == [(p.id, p.step) for p in b.players()]
        rows = [[(m.key, m.returns) for m in s.matches()] for s in (a, b)]
        assert sorted(rows[0]) == sorted(rows[1])
        last = a.players()[-1]
    x, y = load_player(straight, last), load_player(tmp_path / "run", last)
    for u, v in zip(x.model.state_dict().values(), y.model.state_dict().values()):
        torch.testing.assert_close(u, v, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"game.eval_kwargs": {}}, "game.eval_kwargs.prompts"),
        ({"game.eval_kwargs": {"prompts": "bundled:prompts"}}, "game.eval_kwargs.prompts"),
        ({"game.eval_kwargs": {"prompts": "bundled:nothing"}}, "game.eval_kwargs.prompts"),
        ({"mode": {"name": "psro"}}, "mode"),
        ({"learners.hparams": {"train_batch_size_per_learner": 8}}, "learners.hparams.train_"),
        ({"learners.hparams": {"group": 0}}, "learners.hparams"),
        ({"learners.hparams": {"updates_per_iteration": 0}}, "learners.hparams.updates_per"),
        ({"learners.model": {"fcnet_hiddens": [8]}}, "learners.model.fcnet_hiddens"),
        ({"game.kwargs": {"judge": "rules"}}, "game"),
    ],
)
def test_bad_duel_league_configs_name_the_key_before_writing(tiny_lm, tmp_path, changes, key):
    league = league_for(duel_config(tiny_lm, **changes), tmp_path / "run")
    assert isinstance(league, SequenceLeague)
    with pytest.raises(ValueError, match=f"config key {key}"):
        league.check()
    assert not (tmp_path / "run").exists()


def test_the_rllib_league_refuses_a_sequence_learner(tiny_lm, tmp_path):
    from metagame.league.runner import League

    with pytest.raises(ValueError, match="config key learners.algo"):
        League(duel_config(tiny_lm), tmp_path / "run").check()


@pytest.mark.slow
def test_a_lora_league_trains_adapters_and_saves_merged_players(tiny_lm, tmp_path):
    cfg = duel_config(
        tiny_lm,
        **{"learners.model": {"lora": {"r": 4}}, "budget.iterations": 1, "learners.algo": "SPO"},
    )
    info = league_for(cfg, tmp_path / "run").run()
    assert info.iteration == 1
    with Store(tmp_path / "run", readonly=True) as store:
        players = store.players()
        checkpoint = store.get_meta("checkpoint")["path"]
    state = torch.load(tmp_path / "run" / checkpoint / "learner.pt", weights_only=True)
    assert any("lora_" in k for k in state["model"])  # the learner's adapters, to resume from
    initial, trained = (load_player(tmp_path / "run", p).model for p in players)
    assert type(trained) is type(initial)  # a plain transformers model: adapters merged
    changed = [
        k for k, v in initial.state_dict().items() if not torch.equal(v, trained.state_dict()[k])
    ]
    assert changed and all(".attn." in k for k in changed)  # only what the adapters reach
