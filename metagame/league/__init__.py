"""The self-play league: config, SQLite store, population, matchmaking, ratings, runner, CLI.

- ``config``: the YAML schema (pydantic); ``load(path)`` -> ``LeagueConfig``.
- ``store``: the run directory's SQLite database (WAL); an iteration is one unit.
- ``population``: players as policy checkpoints; ``solve_population``; mixture policies.
- ``matchmaking``: PFSP weightings, PSRO meta-strategies, AlphaStar roles, opponent slots.
- ``ratings``: OpenSkill (Weng-Lin), Elo, Nash averaging, alpha-rank.
- ``evaluation``: evaluation matches through ``metagame.agents.arena``, ratings, solves.
- ``exploitability``: exact exploitability of the league's mixture in OpenSpiel games.
- ``runner``: ``League`` on Ray/RLlib (new API stack); the only module importing Ray.
- ``phases``: the named phases of an iteration, and the hook that pauses the runner at one.
- ``cli``: ``league start|status|resume|stop|solve|watch|report``.
"""
