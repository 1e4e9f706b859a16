"""The self-play league: config, run directory, store, roles, modes, matchmaking, ratings, CLI.

- ``config``: the YAML schema (pydantic); ``load(path)`` -> ``LeagueConfig``; the mode section
  is a discriminated union (one settings class per mode).
- ``game_spec``: the game's agents, roles and the populations that play them.
- ``run_dir``: the run directory's layout, lock and per-iteration files.
- ``store``: the run directory's SQLite database (WAL); an iteration is one unit.
- ``population``: players as policy checkpoints; ``solve_population``; mixture policies.
- ``empirical_game``: payoff tensors of any shape over the populations, and meta-solvers.
- ``modes``: self-play, PSRO, XDO, AlphaStar: who trains, whom it meets, when it becomes a player.
- ``matchmaking``: PFSP weightings, AlphaStar branches, opponent slots, per-episode draws.
- ``ratings``: OpenSkill (Weng-Lin), Elo, Nash averaging, alpha-rank.
- ``evaluation``: evaluation matches through ``metagame.agents.arena``, ratings, solves.
- ``exploitability``: exact exploitability of the league's mixture in OpenSpiel games.
- ``restricted_answer``: XDO's restricted game over the players' actions, the league's answer
  in the ``xdo`` mode and with ``evaluation.answer: restricted_game``.
- ``sampling``: what runs inside RLlib's EnvRunners (assignments, tallies, seeding).
- ``runner``: ``League`` on Ray/RLlib (new API stack); ``league_for(cfg)`` picks the league.
- ``sequence``: ``SequenceLeague``, the LLM duel's league: a sequence-level LM learner's
  snapshots judged on held-out prompts, the minimax winner its answer.
- ``phases``: the named phases of an iteration, and the hook that pauses the runner at one.
- ``reference``: the config reference generated from the schema.
- ``cli``: ``league start|status|resume|stop|solve|watch|report``.
"""
