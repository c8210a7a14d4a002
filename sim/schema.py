"""Export the scenario format's JSON Schema: ``python -m sim.schema [FILE]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sim.spec import Scenario


def export(model: type[BaseModel], title: str, **options: Any) -> str:
    """``model``'s JSON Schema (draft 2020-12) as the text committed in the repository."""
    schema = model.model_json_schema(mode="validation", **options)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(text: str, argv: list[str]) -> None:
    """``python -m …schema [FILE]``: the schema into FILE, or on stdout."""
    if len(argv) > 1:
        Path(argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def schema_text() -> str:
    """The JSON Schema of a scenario file, as committed in scenarios/scenario.schema.json."""
    return export(Scenario, "edgesim scenario, format v1", by_alias=True)


if __name__ == "__main__":
    write(schema_text(), sys.argv)
