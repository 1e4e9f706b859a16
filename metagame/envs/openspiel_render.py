"""Drawings of OpenSpiel games: poker tables, boards, and a readable text view.

A pyspiel state draws nothing itself: it has ``str(state)`` and, for most games, observation
tensors that OpenSpiel's ``make_observation`` hands out by name. The family is read off those
names, so any game of a family is drawn, not only the ones named here:

- **poker** (a ``private_card`` and a ``pot_contribution`` tensor: Kuhn, Leduc): a table with
  every seat's hole card (a spectator sees them all), the chips each has committed, the pot, the
  community card once dealt, and the betting so far;
- **boards** (one ``(planes, rows, cols)`` observation: tic-tac-toe, connect four, breakthrough,
  hex, ...): the grid with each piece as a disc in its owner's colour (the owner of a plane is the
  player whose first move changes it), labelled with the game's own character for it;
- anything else: the state's text in a monospace font.

Every drawing has the same header (the game, whose turn it is in that player's colour, the
returns once the game is over) and a legend of the players' colours.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np
import pyspiel
from open_spiel.python.observation import make_observation

from metagame.envs import rendering as R

WIDTH = 640
HEADER = 64
FELT = (38, 110, 72)
CARD = (255, 255, 255)
CARD_EDGE = (60, 60, 66)
CHIP = (214, 170, 40)
MUTED = (110, 110, 120)
RANKS = "23456789TJQKA"
SUITS = "shdc"
DECK_SUITS = {"leduc_poker": 2}  # suits of each poker deck (OpenSpiel's tensors do not say)


def player_name(player: int) -> str:
    return f"player_{player}"


@dataclass
class SpielPainter:
    """Draws states of one game; built once per env (the observer and board facts are cached)."""

    game: pyspiel.Game
    name: str
    colors: np.ndarray = field(init=False)
    observer: object = field(init=False, default=None)
    _board: tuple | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.colors = R.agent_colors(self.game.num_players())
        try:
            self.observer = make_observation(
                self.game,
                pyspiel.IIGObservationType(
                    perfect_recall=False,
                    public_info=True,
                    private_info=pyspiel.PrivateInfoType.SINGLE_PLAYER,
                ),
            )
        except (RuntimeError, ValueError, pyspiel.SpielError):  # games with no tensors
            self.observer = None
        if self.observer is not None and set(self.observer.dict) == {"observation"}:
            shape = self.observer.dict["observation"].shape
            if len(shape) == 3:
                self._board = board_facts(self.game, self.observer)

    @property
    def family(self) -> str:
        if self.observer is not None and {"private_card", "pot_contribution"} <= set(
            self.observer.dict
        ):
            return "poker"
        return "board" if self._board is not None else "text"

    def draw(self, state: pyspiel.State) -> np.ndarray:
        body = {"poker": self._poker, "board": self._board_body, "text": self._text}[self.family]
        return body(state)

    # -- shared parts --------------------------------------------------------------------------

    def _canvas(self, height: int, state: pyspiel.State, width: int = WIDTH):
        surf = R.surface(width, height)
        self._header(surf, state)
        return surf

    def _header(self, surf, state: pyspiel.State) -> None:
        R.draw_text(surf, [self.name], pos=(12, 8), size=26)
        x, y = 12, 36
        if state.is_terminal():
            returns = state.returns()
            for p, value in enumerate(returns):
                x = self._chip_label(surf, x, y, p, f"{player_name(p)} {value:+g}")
            return
        x = self._legend(surf, x, y, highlight=state.current_player())
        if state.is_simultaneous_node():
            R.draw_text(surf, ["all players move"], pos=(x + 8, y), size=20, color=MUTED)
        elif state.is_chance_node():
            R.draw_text(surf, ["chance moves"], pos=(x + 8, y), size=20, color=MUTED)

    def _legend(self, surf, x: int, y: int, highlight: int) -> int:
        for p in range(self.game.num_players()):
            label = f"{player_name(p)} to act" if p == highlight else player_name(p)
            x = self._chip_label(surf, x, y, p, label, bold=p == highlight)
        return x

    def _chip_label(self, surf, x: int, y: int, p: int, text: str, bold: bool = False) -> int:
        color = tuple(int(c) for c in self.colors[p])
        R.pygame.draw.circle(surf, color, (x + 7, y + 8), 7)
        if bold:
            R.pygame.draw.circle(surf, R.TEXT, (x + 7, y + 8), 9, 2)
        img = R.font(20).render(text, True, color if bold else R.TEXT)
        surf.blit(img, (x + 20, y + 1))
        return x + 32 + img.get_width()

    # -- poker ---------------------------------------------------------------------------------

    def _poker(self, state: pyspiel.State) -> np.ndarray:
        n = self.game.num_players()
        surf = self._canvas(420, state)
        table = R.pygame.Rect(60, HEADER + 40, WIDTH - 120, 250)
        R.pygame.draw.ellipse(surf, FELT, table)
        obs = self.observer
        public = None
        for p in range(n):
            obs.set_from(state, p)
            card = _one_hot(obs.dict["private_card"])
            committed = float(obs.dict["pot_contribution"][p])
            if "community_card" in obs.dict:
                public = _one_hot(obs.dict["community_card"])
            self._seat(surf, state, table, p, card, committed)
        pot = sum(float(c) for c in obs.dict["pot_contribution"])
        cx, cy = table.center
        _chips(surf, cx - 60, cy + 10, pot)
        R.draw_text(surf, [f"pot {pot:g}"], pos=(cx - 40, cy + 18), size=24, color=CARD)
        if public is not None:
            self._card(surf, cx + 10, cy - 70, public, "board")
        moves = "  ".join(f"P{p} {label}" for p, label in betting(self.game, state)) or "-"
        R.draw_text(surf, [f"betting  {moves}"], pos=(12, 388), size=20)
        return R.to_array(surf)

    def _seat(self, surf, state, table, p: int, card: int | None, committed: float) -> None:
        n = self.game.num_players()
        angle = np.pi + 2 * np.pi * p / n  # player_0 on the left, the rest clockwise
        x = table.centerx + 0.5 * table.width * np.cos(angle) * 0.78
        y = table.centery + 0.5 * table.height * np.sin(angle) * 0.62
        color = tuple(int(c) for c in self.colors[p])
        acting = not state.is_terminal() and state.current_player() == p
        box = R.pygame.Rect(int(x) - 58, int(y) - 62, 116, 124)
        R.pygame.draw.rect(surf, R.BACKGROUND, box, border_radius=10)
        R.pygame.draw.rect(surf, color, box, width=5 if acting else 2, border_radius=10)
        R.draw_text(surf, [player_name(p)], pos=(box.x + 10, box.y + 6), size=20, color=color)
        self._card(surf, box.x + 12, box.y + 26, card, None)
        _chips(surf, box.x + 66, box.y + 80, committed)
        R.draw_text(surf, [f"bet {committed:g}"], pos=(box.x + 62, box.y + 30), size=18)

    def _card(self, surf, x: int, y: int, card: int | None, caption: str | None) -> None:
        rect = R.pygame.Rect(x, y, 44, 62)
        if card is None:  # not dealt yet
            R.pygame.draw.rect(surf, MUTED, rect, width=2, border_radius=6)
            return
        R.pygame.draw.rect(surf, CARD, rect, border_radius=6)
        R.pygame.draw.rect(surf, CARD_EDGE, rect, width=2, border_radius=6)
        label = card_label(card, self._deck_size(), self._suits())
        img = R.font(30).render(label, True, R.TEXT)
        surf.blit(img, img.get_rect(center=rect.center))
        if caption:
            R.draw_text(surf, [caption], pos=(x, y + 64), size=18, color=CARD)

    def _deck_size(self) -> int:
        return int(self.observer.dict["private_card"].size)

    def _suits(self) -> int:
        return DECK_SUITS.get(self.game.get_type().short_name, 1)

    # -- boards --------------------------------------------------------------------------------

    def _board_body(self, state: pyspiel.State) -> np.ndarray:
        empty, owners = self._board
        obs = self.observer
        obs.set_from(state, 0)
        planes = obs.dict["observation"]
        _, rows, cols = planes.shape
        cell = max(28, min(64, 560 // max(rows, cols)))
        width = max(WIDTH, cols * cell + 24)
        surf = self._canvas(HEADER + rows * cell + 24, state, width)
        chars = board_chars(str(state), rows, cols)
        x0 = (width - cols * cell) // 2
        for r in range(rows):
            for c in range(cols):
                rect = R.pygame.Rect(x0 + c * cell, HEADER + 8 + r * cell, cell, cell)
                R.pygame.draw.rect(surf, (236, 232, 220), rect)
                R.pygame.draw.rect(surf, R.GRID_LINE, rect, width=1)
                plane = int(np.argmax(planes[:, r, c]))
                if plane == empty or planes[plane, r, c] == 0:
                    continue
                owner = owners.get(plane, owners.get(chars[r][c]) if chars else None)
                color = tuple(int(v) for v in self.colors[owner]) if owner is not None else MUTED
                R.pygame.draw.circle(surf, color, rect.center, int(cell * 0.38))
                if chars is not None:
                    img = R.font(int(cell * 0.6)).render(chars[r][c], True, R.BACKGROUND)
                    surf.blit(img, img.get_rect(center=rect.center))
        return R.to_array(surf)

    # -- text ----------------------------------------------------------------------------------

    def _text(self, state: pyspiel.State) -> np.ndarray:
        lines = str(state).splitlines() or [""]
        if not state.is_terminal() and not state.is_chance_node():
            player = state.current_player()
            legal = state.legal_actions(player) if player >= 0 else []
            names = [state.action_to_string(player, a) for a in legal[:12]]
            more = " ..." if len(legal) > 12 else ""
            lines += ["", "legal: " + ", ".join(names) + more] if names else []
        mono = monospace(18)
        width = max(WIDTH, 24 + max(mono.size(line)[0] for line in lines))
        surf = self._canvas(HEADER + 16 + mono.get_linesize() * len(lines), state, width)
        for k, line in enumerate(lines):
            surf.blit(mono.render(line, True, R.TEXT), (12, HEADER + 8 + k * mono.get_linesize()))
        return R.to_array(surf)


@functools.cache
def monospace(size: int):
    """A monospace system font (pygame's default font where none is installed)."""
    R.font(size)  # initialises pygame's font module
    return R.pygame.font.SysFont("dejavusansmono,monospace", size)


def _one_hot(vector) -> int | None:
    vector = np.asarray(vector)
    return int(np.argmax(vector)) if vector.any() else None


def _chips(surf, x: int, y: int, amount: float) -> None:
    """A stack of chips, one per unit committed (at most ten drawn)."""
    for k in range(min(int(round(amount)), 10)):
        R.pygame.draw.ellipse(surf, CHIP, (x, y - 4 * k, 26, 10))
        R.pygame.draw.ellipse(surf, CARD_EDGE, (x, y - 4 * k, 26, 10), width=1)


def card_label(card: int, deck: int, suits: int) -> str:
    """A card's name: a deck of k ranks uses the k highest below the ace (Kuhn's three cards
    are J, Q, K), all thirteen with the ace; with more than one suit, the suit follows (Leduc's
    cards are Js, Jh, Qs, ...), as OpenSpiel orders them (card = rank * suits + suit)."""
    if suits < 1 or deck % suits or deck // suits > len(RANKS) or suits > len(SUITS):
        return str(card)
    k = deck // suits
    ranks = RANKS if k == len(RANKS) else RANKS[len(RANKS) - 1 - k : -1]
    rank, suit = divmod(card, suits)
    return ranks[rank] + (SUITS[suit] if suits > 1 else "")


def betting(game: pyspiel.Game, state: pyspiel.State) -> list[tuple[int, str]]:
    """The decisions so far as ``(player, label)``, chance outcomes (the deal) left out."""
    replay = game.new_initial_state()
    moves = []
    for action in state.history():
        if not replay.is_chance_node():
            player = replay.current_player()
            moves.append((player, replay.action_to_string(player, action)))
        replay.apply_action(action)
    return moves


def board_facts(game: pyspiel.Game, observer) -> tuple[int, dict[int | str, int]]:
    """Which plane marks an empty cell (the most common one at the start) and who owns each
    piece: the player whose first move changes a plane owns it, and the game's character on
    the cells that move changed (hex keeps one player's stones in several planes, one char)."""
    state = game.new_initial_state()
    observer.set_from(state, 0)
    before = observer.dict["observation"].copy()
    _, rows, cols = before.shape
    empty = int(np.argmax(before.sum(axis=(1, 2))))
    owners: dict[int | str, int] = {}
    for _ in range(game.num_players()):
        if state.is_terminal() or state.is_chance_node() or state.is_simultaneous_node():
            break
        player = state.current_player()
        state.apply_action(state.legal_actions()[0])
        observer.set_from(state, 0)
        after = observer.dict["observation"].copy()
        diff = np.abs(after - before)
        moved = [int(k) for k in np.flatnonzero(diff.sum(axis=(1, 2)) > 0) if k != empty]
        if len(moved) == 1:
            owners.setdefault(moved[0], player)
        chars = board_chars(str(state), rows, cols)
        for r, c in zip(*np.nonzero(after[empty] < before[empty]), strict=True):
            if chars is not None:
                owners.setdefault(chars[r][c], player)
        before = after
    return empty, owners


def board_chars(text: str, rows: int, cols: int) -> list[str] | None:
    """The game's own characters for each cell, read off ``str(state)`` where its first
    ``rows`` lines of ``cols`` cells (spaces and coordinates dropped) are the board."""
    cells = [re.sub(r"[\s\d]", "", line) for line in text.splitlines()]
    board = [line for line in cells if len(line) == cols][:rows]
    return board if len(board) == rows else None
