"""The price table behind "cost per 1K queries": a JSON file a user can edit.

Lookup order for the table: an explicit path, then ``$STILLHOUSE_HOME/prices.json``, then the default
shipped beside this module. A self-hosted model is priced by measured core-seconds x ``per_core_hour``
and shown beside the on-demand price of the Bedrock model it ``stands_in_for``. Within a table the first entry whose glob matches the model's label or
backend name wins, so specific entries go first and a ``*`` catch-all last.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stillhouse import paths
from stillhouse.errors import InvalidInputError, NotFoundError

DEFAULT_PRICES = Path(__file__).with_name("prices.json")


class ModelPrice(BaseModel):
    """Prices of one model (or family of models selected by a glob)."""

    model_config = ConfigDict(extra="forbid")

    match: str = Field(min_length=1)
    input_per_1k: float = Field(ge=0.0)
    output_per_1k: float = Field(ge=0.0)
    per_hour: float | None = Field(default=None, ge=0.0)
    # A self-hosted model's compute: what one core (or GPU) costs per hour, times the core-seconds
    # each query was measured to use (the CPU time of the process that ran it).
    per_core_hour: float | None = Field(default=None, ge=0.0)
    # The Bedrock model a local one replaces: its on-demand price is shown beside the measured one.
    stands_in_for: str | None = None
    source: str = ""

    def query_cost(
        self, input_tokens: int, output_tokens: int, seconds: float, core_seconds: float | None = None
    ) -> float:
        """Price of one call: its tokens, plus its wall time when the model is priced by the hour and
        its measured core-seconds when priced per core-hour (unmeasured core time costs nothing)."""
        tokens = input_tokens / 1000.0 * self.input_per_1k + output_tokens / 1000.0 * self.output_per_1k
        hourly = seconds / 3600.0 * self.per_hour if self.per_hour else 0.0
        compute = (core_seconds or 0.0) / 3600.0 * self.per_core_hour if self.per_core_hour else 0.0
        return tokens + hourly + compute


class PriceTable(BaseModel):
    """An ordered list of model prices in one currency."""

    model_config = ConfigDict(extra="forbid")

    currency: str = "USD"
    note: str = ""
    models: list[ModelPrice] = []
    source_path: str | None = None

    def lookup(self, *names: str) -> ModelPrice | None:
        """The first entry whose glob matches any of ``names`` (case-insensitive), else ``None``."""
        lowered = [n.lower() for n in names if n]
        for entry in self.models:
            pattern = entry.match.lower()
            if any(fnmatch.fnmatchcase(name, pattern) for name in lowered):
                return entry
        return None


def stand_in(table: PriceTable, price: ModelPrice | None) -> ModelPrice | None:
    """The price entry of the Bedrock model ``price`` stands in for (``None`` when it names none,
    or names a model the table does not price: the catch-all ``*`` never counts as one)."""
    if price is None or not price.stands_in_for:
        return None
    entry = table.lookup(price.stands_in_for)
    return entry if entry is not None and entry.match != "*" else None


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Read a price table (see the module docstring for which file is used when ``path`` is None)."""
    if path is not None:
        chosen = Path(path).expanduser()
        if not chosen.is_file():
            raise NotFoundError(f"price table {chosen} does not exist", field="prices")
    else:
        user = paths.home() / "prices.json"
        chosen = user if user.is_file() else DEFAULT_PRICES
    try:
        table = PriceTable.model_validate(json.loads(chosen.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidInputError(f"price table {chosen} is invalid: {exc}", field="prices") from exc
    return table.model_copy(update={"source_path": str(chosen)})
