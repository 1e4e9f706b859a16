"""``league watch``'s viewer side on a real league store: recorded and live matches."""

import pygame
import pytest

from metagame.agents import play
from metagame.agents.policy import RandomPolicy, save_policy
from metagame.league.store import Store
from metagame.viz.viewer import watch

GAME = "openspiel:goofspiel(num_cards=4)"


@pytest.fixture
def run_dir(tmp_path, store_rows):
    """A league run directory with two players and two recorded matches, one with a replay."""
    tmp_path = tmp_path / "run"
    with Store(tmp_path, create=True) as store:
        store.set_meta(config={"game": {"name": GAME, "kwargs": {}}})
        ids = []
        for k in range(2):
            save_policy(RandomPolicy(4, seed=k, id=f"p{k}"), tmp_path / "players" / f"p{k}")
            ids.append(store_rows.player(store, f"players/p{k}").id)
        result = play(GAME, [RandomPolicy(4, seed=0), RandomPolicy(4, seed=1)], seed=7, record=True)

        def save_replay(match_id):
            path = tmp_path / "replays" / f"m{match_id}.replay.json.gz"
            return str(result.replays[0].save(path).relative_to(tmp_path))

        # one with its replay, one without
        store_rows.match(
            store, "0", ids, result.returns[0], length=4, seed=7, save_replay=save_replay
        )
        store_rows.match(store, "1", ids, [0.0, 0.0], length=4, seed=8)
    return tmp_path, ids, result


def test_watch_plays_the_recorded_match_to_its_returns(run_dir):
    path, _, result = run_dir
    viewer = watch(path, speed=1000.0, fps=1000, max_frames=30)
    assert viewer.finished
    assert viewer.source.current.returns["player_0"] == pytest.approx(result.returns[0][0])
    with pytest.raises(
        ValueError, match=r"match 2 has no recorded replay \(matches with replays: 1\)"
    ):
        watch(path, match_id=2, max_frames=1)


@pytest.mark.parametrize("stored", ["../elsewhere.replay.json.gz", "/etc/hostname", "link"])
def test_watch_refuses_a_replay_path_outside_the_run_directory(run_dir, stored):
    path, _, _ = run_dir
    outside = path.parent / "elsewhere.replay.json.gz"
    outside.write_bytes((path / "replays" / "m1.replay.json.gz").read_bytes())
    (path / "link").symlink_to(outside)  # inside by name, outside once resolved
    with Store(path) as store, store.transaction() as db:
        db.execute("UPDATE matches SET replay = ? WHERE id = 1", (stored,))
    with pytest.raises(ValueError, match="lies outside the run directory"):
        watch(path, match_id=1, max_frames=1)


def test_watch_live_plays_new_episodes_between_two_players(run_dir):
    path, ids, _ = run_dir
    viewer = watch(path, live=ids, speed=1000.0, fps=1000, max_frames=40, events=[pygame.K_PLUS])
    assert viewer.source.episode >= 2  # kept playing new matches
    assert set(viewer.source.replay.policies.values()) == set(ids)
    with pytest.raises(ValueError, match=r"one player per role \(player_0, player_1\)"):
        watch(path, live=ids[:1])
