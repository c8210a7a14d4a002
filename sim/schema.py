"""Export the scenario format's JSON Schema: ``python -m sim.schema [FILE]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sim.spec import Scenario


def schema_text() -> str:
    """The JSON Schema of a scenario file, as committed in scenarios/scenario.schema.json."""
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edgesim scenario, format v1"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = schema_text()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
