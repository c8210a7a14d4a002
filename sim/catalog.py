"""The device catalog: named device types a scenario can refer to with ``type:``.

The built-in entries live in ``catalog.yaml`` beside this module, each with
the source of its figures. Users add their own with a catalog file of the
same format (the scenario's ``catalog:`` key, or ``edgesim --catalog``);
a later file's entry replaces an earlier one of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import Field

from sim.spec import DeviceSpec

BUILTIN = Path(__file__).with_name("catalog.yaml")


class CatalogEntry(DeviceSpec):
    """A catalog device: a device spec plus where its figures come from."""

    source: str = Field(description="where the figures come from")
    notes: str = ""

    def device(self) -> DeviceSpec:
        """The entry as a device spec, without its provenance."""
        fields = self.model_dump(by_alias=True, exclude_unset=True, exclude={"source", "notes"})
        return DeviceSpec.model_validate(fields)


def entries(raw: object, file: Path) -> dict[str, CatalogEntry]:
    """Validate one catalog file's parsed YAML (a mapping of name to entry)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{file}: a catalog is a mapping of device type to figures")
    return {str(name): CatalogEntry.model_validate(body) for name, body in raw.items()}


def merged(*catalogs: dict[str, CatalogEntry]) -> dict[str, CatalogEntry]:
    """Later catalogs override earlier ones, entry by entry."""
    out: dict[str, CatalogEntry] = {}
    for catalog in catalogs:
        out.update(catalog)
    return out


def names(catalog: Iterable[str]) -> str:
    """The sorted, comma-separated names, for error messages."""
    return ", ".join(sorted(catalog))
