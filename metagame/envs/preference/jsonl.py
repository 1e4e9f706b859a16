"""Reading JSONL files one object per line, with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    """Yields ``(line number, object)`` for each non-blank line of ``path``.

    A line that is not valid JSON, or not a JSON object, raises ValueError naming the line.
    """
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {number}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {number}: expected a JSON object")
            yield number, record
