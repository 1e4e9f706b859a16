"""The self-play league: config, SQLite store, population, matchmaking, ratings, runner, CLI."""
