"""File writers that hold at most one batch of rows: JSON Lines, CSV, and Parquet in record batches.

Parquet columns that repeat per scenario or per candidate (prompts, responses, provenance) are built
with `take` from small per-scenario / per-candidate arrays, so a batch costs a few index arrays."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

BATCH_ROWS = 4_096
BUFFER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Output:
    path: str  # relative to the bundle directory
    format: str
    rows: int
    sha256: str | None = None  # known when the writer hashed the bytes as it wrote them
    bytes: int | None = None
    config: str = ""  # the dataset card's config name, for files `datasets` loads
    schema: pa.Schema | None = None  # the columns and types the card declares for that config


class JsonlFile:
    """JSON Lines, written in ~1 MB blocks that are hashed on the way out (no second read for the manifest)."""

    def __init__(self, root: Path, relative: str, format: str, *, config: str = "", schema: pa.Schema | None = None) -> None:
        self.relative = relative
        self.format = format
        self.config = config
        self.schema = schema
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: BinaryIO = path.open("wb")
        self._hash = hashlib.sha256()
        self._size = 0
        self._lines: list[str] = []
        self._pending = 0
        self.rows = 0

    def write(self, line: str) -> None:
        """One JSON object, already encoded, without its newline."""
        self._lines.append(line)
        self._pending += len(line)
        self.rows += 1
        if self._pending >= BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._lines:
            return
        self._lines.append("")
        block = "\n".join(self._lines).encode("utf-8")
        self._hash.update(block)
        self._f.write(block)
        self._size += len(block)
        self._lines = []
        self._pending = 0

    def close(self) -> Output:
        self._flush()
        self._f.close()
        return Output(self.relative, self.format, self.rows, self._hash.hexdigest(), self._size, self.config, self.schema)


class CsvFile:
    def __init__(self, root: Path, relative: str, format: str, header: Sequence[str]) -> None:
        self.relative = relative
        self.format = format
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: TextIO = path.open("w", encoding="utf-8", newline="", buffering=BUFFER_BYTES)
        self._w = csv.writer(self._f, lineterminator="\n")
        self._w.writerow(header)
        self.rows = 0

    def write(self, row: Sequence[object]) -> None:
        self._w.writerow(row)
        self.rows += 1

    def close(self) -> Output:
        self._f.close()
        return Output(self.relative, self.format, self.rows)


@dataclass(frozen=True, slots=True)
class Column:
    """A Parquet column: the value in row slot `slot`, or, with `lookup`, lookup()[value in that slot].
    The lookup is built only when a Parquet file is written (building Arrow arrays of structs imports
    pandas, which a JSON Lines export need not pay for)."""

    name: str
    type: pa.DataType
    slot: int
    lookup: Callable[[], pa.Array] | None = None


def schema_of(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type) for c in columns])


class ParquetFile:
    def __init__(
        self,
        root: Path,
        relative: str,
        format: str,
        columns: Sequence[Column],
        batch_rows: int = BATCH_ROWS,
        *,
        config: str = "",
    ) -> None:
        self.relative = relative
        self.format = format
        self.config = config
        self.columns = list(columns)
        self.schema = schema_of(self.columns)
        self._lookups = {c.name: c.lookup() for c in self.columns if c.lookup is not None}
        self._slots = 1 + max(c.slot for c in self.columns)
        self._buffer: list[list[Any]] = [[] for _ in range(self._slots)]
        self._batch_rows = batch_rows
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self.rows = 0

    def add(self, *slots: Any) -> None:
        for i in range(self._slots):
            self._buffer[i].append(slots[i])
        self.rows += 1
        if len(self._buffer[0]) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer[0]:
            return
        indices: dict[int, pa.Array] = {}
        arrays: list[pa.Array] = []
        for c in self.columns:
            if c.name in self._lookups:
                if c.slot not in indices:
                    indices[c.slot] = pa.array(self._buffer[c.slot], pa.int32())
                arrays.append(self._lookups[c.name].take(indices[c.slot]))
            else:
                arrays.append(pa.array(self._buffer[c.slot], c.type))
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self._buffer = [[] for _ in range(self._slots)]

    def close(self) -> Output:
        self._flush()
        self._writer.close()
        return Output(self.relative, self.format, self.rows, config=self.config, schema=self.schema)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(BUFFER_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()
