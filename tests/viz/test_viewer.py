"""The viewer, headless: controls, side panel, screenshots, empirical strategies."""

import numpy as np
import pygame
import pytest

from metagame.envs import make
from metagame.viz.__main__ import main as viz_main
from metagame.viz.viewer import MatchSource, Viewer, simplex_point


def test_controls_pause_step_speed_restart_and_quit(tmp_path, record_parallel):
    replay = record_parallel("openspiel:goofspiel(num_cards=5)", seed=1)[0]
    viewer = Viewer(MatchSource([replay]), speed=100.0, fps=1000, screenshot_dir=tmp_path)
    k = pygame
    # Pause at once, step twice by hand, speed up, screenshot, quit.
    viewer.run(max_frames=50, events=[k.K_SPACE, k.K_RIGHT, k.K_RIGHT, k.K_PLUS, k.K_s, k.K_q])
    assert viewer.paused
    assert viewer.source.current.step == 2
    assert viewer.speed == 200.0
    assert len(viewer.screenshots) == 1 and viewer.screenshots[0].stat().st_size > 0
    shot = pygame.image.load(str(viewer.screenshots[0]))
    assert shot.get_width() > 320 and len(np.unique(pygame.surfarray.array3d(shot))) > 2
    viewer.handle_key(k.K_r)
    assert viewer.source.current.step == 0
    assert viewer.handle_key(k.K_q) is False


def test_playing_reaches_the_end_with_the_recorded_returns(tmp_path, record_parallel):
    replay = record_parallel("openspiel:goofspiel(num_cards=4)", seed=3)[0]
    viewer = Viewer(MatchSource([replay]), speed=1000.0, fps=1000).run(max_frames=40)
    assert viewer.finished
    cur = viewer.source.current
    assert cur.step == replay.length
    assert cur.returns == pytest.approx(replay.returns)
    lines = viewer.source.panel_lines()
    assert any(line.startswith("  player_0") for line in lines)
    assert any("returns" in key for key in lines) or "metrics:" in lines


def test_empirical_strategies_follow_the_actions_and_lie_on_the_simplex(record_parallel):
    replays = [record_parallel("openspiel:matrix_rps", seed=s)[0] for s in range(30)]
    source = MatchSource(replays)
    while source.advance():
        pass
    mixtures = source.strategies.mixtures()
    counts = np.zeros(3)
    for r in replays:
        counts[r.actions[0]["player_0"]] += 1
    np.testing.assert_allclose(mixtures["player_0"], counts / counts.sum())
    assert len(source.strategies.trajectory["player_0"]) == 30
    x, y = simplex_point(np.array([1 / 3, 1 / 3, 1 / 3]), 150)
    assert 0 < x < 150 and 0 < y < 150
    # The simplex drawing puts the trajectory's last point in player_0's colour.
    viewer = Viewer(source)
    frame = pygame.surfarray.array3d(viewer.compose()).transpose(1, 0, 2)
    from metagame.envs.rendering import agent_colors

    assert (frame == agent_colors(1)[0]).all(axis=2).sum() > 20


def test_cli_plays_a_replay_file_and_rejects_a_bad_one(tmp_path, capsys, record_parallel):
    path = record_parallel("openspiel:matrix_rps", seed=0)[0].save(tmp_path / "m.replay.json.gz")
    assert viz_main([str(path), "--max-frames", "3"]) == 0
    assert viz_main([str(tmp_path / "missing.replay.json.gz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


def test_panel_metrics_flatten_nested_infos():
    from metagame.viz.viewer import _metrics

    infos = {
        "player_0": {"metrics": {"csr": 0.5, "makespan": 7}, "note": "x", "arr": [1], "ret": 1},
        "player_1": {"metrics": {"csr": 0.5, "makespan": 7}, "ret": -1},
    }
    # shared entries once; an entry that differs by agent (or only one agent has) says whose
    assert _metrics(infos) == [
        ("metrics.csr", 0.5),
        ("metrics.makespan", 7),
        ("player_0: note", "x"),
        ("player_0: ret", 1),
        ("player_1: ret", -1),
    ]


def test_strategy_bars_are_labelled_with_action_names_and_agent_colours():
    from metagame.agents import play
    from metagame.agents.policy import RandomPolicy
    from metagame.envs.rendering import agent_colors
    from metagame.viz.viewer import action_labels

    env = make("matrix", game="rps", rounds=6)
    policies = [
        RandomPolicy(env.action_space(a), seed=k) for k, a in enumerate(env.possible_agents)
    ]
    kwargs = {"game": "rps", "rounds": 6}
    replays = play("matrix", policies, episodes=1, seed=0, env_kwargs=kwargs, record=True).replays
    source = MatchSource(replays)
    while source.advance():
        pass
    strategies = source.strategies
    assert strategies.labels == {a: ["rock", "paper", "scissors"] for a in strategies.counts}
    colors = agent_colors(2)
    assert strategies.colors["player_1"] == tuple(int(c) for c in colors[1])
    kuhn = make("openspiel:kuhn_poker")
    kuhn.reset(seed=0)
    assert action_labels(kuhn, "player_0", 2) == ["Pass", "Bet"]


def test_importing_rendering_changes_no_environment_and_a_window_falls_back_headless():
    import os
    import subprocess
    import sys

    code = (
        "import os; before = dict(os.environ); import metagame.envs.rendering as r; "
        "print(dict(os.environ) == before); print(r.init_display())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "SDL_VIDEODRIVER")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["True", "dummy"], out.stderr
    assert "Hello from the pygame community" not in out.stdout


def test_zoom_and_pan_show_the_matching_part_of_the_picture(record_parallel):
    replay = record_parallel("openspiel:goofspiel(num_cards=5)", seed=1)[0]
    viewer = Viewer(MatchSource([replay]))
    whole = pygame.surfarray.array3d(viewer.compose()).swapaxes(0, 1)
    frame = viewer.source.frame()
    h, w = frame.shape[:2]
    viewer.handle_key(pygame.K_z)  # 2x on the centre: the centre pixel stays where it was
    zoomed = pygame.surfarray.array3d(viewer.compose()).swapaxes(0, 1)
    assert viewer.zoom == 2.0 and not np.array_equal(whole[:h, :w], zoomed[:h, :w])
    for _ in range(10):  # pan right: clamped at the picture's right edge
        viewer.handle_key(pygame.K_l)
    assert viewer.pan[0] == 0.25
    panned = pygame.surfarray.array3d(viewer.compose()).swapaxes(0, 1)
    np.testing.assert_array_equal(panned[h // 2, w - 2], whole[h // 2, w - 1])  # right edge kept
    viewer.handle_key(pygame.K_0)
    np.testing.assert_array_equal(pygame.surfarray.array3d(viewer.compose()).swapaxes(0, 1), whole)
