"""What an import did, and where its rejected lines went."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg

from ingest.batches import close_batch
from ingest.csvfile import CsvFile, Rejection
from warehouse.copy import copy_frames


@dataclass
class ImportReport:
    path: Path
    batch_id: int
    lines_read: int
    rows_loaded: int
    rejected: list[Rejection] = field(default_factory=list)  # the ones stored (capped)
    skipped_as_duplicate_of: int | None = None
    notes: list[str] = field(default_factory=list)  # what the batch message says beyond counts
    rejected_count: int | None = None  # every rejected line, stored or not

    @property
    def n_rejected(self) -> int:
        return len(self.rejected) if self.rejected_count is None else self.rejected_count

    @classmethod
    def skipped(cls, csv: CsvFile, prior_batch: int) -> ImportReport:
        return cls(csv.path, prior_batch, csv.lines_read, 0, [], prior_batch)

    def summary(self, examples: int = 10) -> str:
        if self.skipped_as_duplicate_of is not None:
            return (
                f"{self.path}: already loaded as batch {self.skipped_as_duplicate_of}; "
                "nothing added"
            )
        lines = [
            f"{self.path}: batch {self.batch_id}: {self.lines_read} lines read, "
            f"{self.rows_loaded} rows loaded, {self.n_rejected} rejected"
        ]
        lines += [f"  {note}" for note in self.notes if note]
        if self.rejected:
            kinds = Counter(r.reason.split(" ")[0] + " …" for r in self.rejected)
            lines.append("  rejected by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))
            for r in self.rejected[:examples]:
                col = f", column {r.column!r}" if r.column else ""
                lines.append(f"  {self.path}, line {r.line_no}{col}: {r.reason}")
            if self.n_rejected > examples:
                lines.append(
                    f"  … {self.n_rejected - examples} more: select * from "
                    f"raw.rejected_rows where batch_id = {self.batch_id}"
                )
        return "\n".join(lines)


PAYLOAD_CAP = 4000  # characters of a rejected line kept (the line number finds the rest)


def _stored(payload: str) -> str:
    """A rejected line as text PostgreSQL can hold: NUL bytes shown, long lines cut."""
    text = payload.replace("\x00", "\\x00")
    return text if len(text) <= PAYLOAD_CAP else text[:PAYLOAD_CAP] + f"… [{len(text)} chars]"


def write_rejections(conn: psycopg.Connection, batch_id: int, rejected: list[Rejection]) -> None:
    if not rejected:
        return
    df = pd.DataFrame(
        [(batch_id, r.line_no, r.column, r.reason, _stored(r.payload)) for r in rejected],
        columns=["batch_id", "line_no", "column", "reason", "payload"],
    ).sort_values("line_no")
    copy_frames(conn, "raw.rejected_rows", list(df.columns), [df])


def finish_batch(
    conn: psycopg.Connection, batch: int, csv: CsvFile, loaded: int, notes: list[str]
) -> ImportReport:
    """Store the batch's rejections (the first REJECTIONS_KEPT; all are counted), close it with
    its counts and message, and say what it did."""
    log = csv.rejected
    if log.dropped:
        kinds = ", ".join(f"{k} {n:,}" for k, n in log.kinds.most_common())
        notes = [
            *notes,
            f"{log.count:,} lines rejected ({kinds}); the first {len(log.kept):,} are stored",
        ]
    write_rejections(conn, batch, log.kept)
    close_batch(
        conn,
        batch,
        rows_read=csv.lines_read,
        rows_loaded=loaded,
        rows_rejected=log.count,
        message="; ".join(n for n in notes if n) or None,
    )
    return ImportReport(
        csv.path, batch, csv.lines_read, loaded, log.kept, notes=notes, rejected_count=log.count
    )
