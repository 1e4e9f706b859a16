"""OpenSpiel games are drawn by family (poker tables, boards, text), checked pixel by pixel
against the game's own state: whose pieces stand where, which cards are dealt, who acts."""

import numpy as np
import pyspiel
import pytest

from metagame.envs import make
from metagame.envs.openspiel_render import (
    HEADER,
    SpielPainter,
    betting,
    board_chars,
    board_facts,
    card_label,
)
from metagame.envs.rendering import agent_colors

P0, P1 = (tuple(int(v) for v in c) for c in agent_colors(2))


def play(name, actions):
    game = pyspiel.load_game(name)
    state = game.new_initial_state()
    for a in actions:
        state.apply_action(a)
    return game, state


def test_card_names():
    assert [card_label(c, 3, 1) for c in range(3)] == ["J", "Q", "K"]  # Kuhn
    assert [card_label(c, 6, 2) for c in range(6)] == ["Js", "Jh", "Qs", "Qh", "Ks", "Kh"]
    assert card_label(0, 52, 4) == "2s" and card_label(51, 52, 4) == "Ac"
    assert card_label(5, 7, 2) == "5"  # a deck that is not ranks x suits: the index


def test_betting_leaves_out_the_deal():
    game, state = play("kuhn_poker", [2, 0, 0, 1])  # K to player_0, J to player_1; pass, bet
    assert betting(game, state) == [(0, "Pass"), (1, "Bet")]


def test_families_are_read_off_the_tensors():
    kinds = {
        n: SpielPainter(pyspiel.load_game(n), n).family
        for n in ("kuhn_poker", "leduc_poker", "tic_tac_toe", "breakthrough", "liars_dice")
    }
    assert kinds == {
        "kuhn_poker": "poker",
        "leduc_poker": "poker",
        "tic_tac_toe": "board",
        "breakthrough": "board",
        "liars_dice": "text",
    }


def test_board_owners_come_from_moves():
    game = pyspiel.load_game("tic_tac_toe")
    painter = SpielPainter(game, "ttt")
    empty, owners = board_facts(game, painter.observer)
    assert empty == 0  # OpenSpiel's cell states: empty, nought, cross
    assert owners == {2: 0, "x": 0, 1: 1, "o": 1}  # player_0 plays crosses
    assert board_chars("x..\n.o.\n..x", 3, 3) == ["x..", ".o.", "..x"]
    assert board_chars("8bbb\n7...\n abc", 2, 3) == ["bbb", "..."]  # coordinates dropped


def _cell_center(frame, r, c):
    rows = cols = 3
    cell = max(28, min(64, 560 // max(rows, cols)))
    x0 = (frame.shape[1] - cols * cell) // 2
    return tuple(frame[HEADER + 8 + r * cell + cell // 2 - cell // 4, x0 + c * cell + cell // 2])


def test_tic_tac_toe_pieces_in_their_owners_colours():
    game, state = play("tic_tac_toe", [4, 0])  # x in the centre, o in the corner
    painter = SpielPainter(game, "tic_tac_toe")
    frame = painter.draw(state)
    assert _cell_center(frame, 1, 1) == P0
    assert _cell_center(frame, 0, 0) == P1
    assert _cell_center(frame, 2, 2) != P0 != P1  # empty
    # the legend's first chip is player_0's colour; the acting player is ringed in dark
    assert tuple(frame[44, 19]) == P0


def test_poker_table_shows_every_dealt_card_and_the_acting_seat():
    game, state = play("kuhn_poker", [2, 0])  # dealt; player_0 to act
    frame = SpielPainter(game, "kuhn_poker").draw(state)
    white = np.all(frame == 255, axis=-1)
    assert white.sum() > 2 * 30 * 50  # two face-up cards
    p0 = np.all(frame == P0, axis=-1).sum()
    p1 = np.all(frame == P1, axis=-1).sum()
    assert p0 > p1  # the acting seat's border is drawn thicker
    game, state = play("kuhn_poker", [2, 0, 1])  # player_0 bet: now player_1 acts
    frame = SpielPainter(game, "kuhn_poker").draw(state)
    assert np.all(frame == P1, axis=-1).sum() > np.all(frame == P0, axis=-1).sum()


@pytest.mark.parametrize(
    "name",
    [
        "openspiel:kuhn_poker",
        "openspiel:connect_four",
        "openspiel:liars_dice",
        "openspiel:goofspiel(num_cards=4)",
    ],
)
def test_env_frames_are_the_painters(name):
    env = make(name, render_mode="rgb_array")
    env.reset(seed=3)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[1] >= 640
    np.testing.assert_array_equal(frame, SpielPainter(env.game, name).draw(env.game_state))
