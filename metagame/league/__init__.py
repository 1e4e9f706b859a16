"""The self-play league: config, SQLite store, population, matchmaking, ratings, runner, CLI.

- ``config``: the YAML schema (pydantic); ``load(path)`` -> ``LeagueConfig``.
- ``store``: the run directory's SQLite database (WAL), committed match by match.
- ``population``: players as policy checkpoints; ``solve_population``; mixture policies.
- ``matchmaking``: PFSP weightings, PSRO meta-strategies, AlphaStar roles, opponent slots.
- ``ratings``: OpenSkill (Weng-Lin), Elo, Nash averaging, alpha-rank.
- ``evaluation``: evaluation matches through ``metagame.agents.arena``, ratings, solves.
- ``exploitability``: exact exploitability of the league's mixture in OpenSpiel games.
- ``runner``: ``League`` on Ray/RLlib (new API stack); the only module importing Ray.
- ``cli``: ``league start|status|resume|stop|solve|watch|report``.
"""
