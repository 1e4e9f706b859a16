"""``python -m metagame.viz REPLAY``: play a replay file in the viewer."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metagame.viz", description=__doc__)
    parser.add_argument("replay", help="a .replay.json.gz file")
    parser.add_argument("--speed", type=float, default=4.0, help="environment steps per second")
    parser.add_argument("--fps", type=int, default=60)
    parser.add_argument("--screenshot-dir", default=".")
    parser.add_argument("--max-frames", type=int, default=None, help="close after N frames")
    args = parser.parse_args(argv)
    from metagame.viz.viewer import view_replay

    try:
        view_replay(
            args.replay,
            speed=args.speed,
            fps=args.fps,
            screenshot_dir=args.screenshot_dir,
            max_frames=args.max_frames,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
