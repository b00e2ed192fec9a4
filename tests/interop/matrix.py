"""The interop matrix as a table: one row per (producer, form), one column per consumer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """What one test checks: ``producer`` wrote ``form``, ``consumer`` read it."""

    producer: str
    consumer: str
    form: str
    expect: str = "read"  # or "refused": the consumer cannot read the form (documented)


@dataclass
class Matrix:
    """Outcomes by cell; a cell checked by several tests passes only if all of them pass."""

    cells: dict[Cell, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.cells)

    def record(self, cell: Cell, outcome: str) -> None:
        key = Cell(cell.producer, cell.consumer, cell.form)
        verdict = "FAIL"
        if outcome == "passed":
            verdict = "PASS" if cell.expect == "read" else "cannot read"
        if self.cells.get(key) != "FAIL":
            self.cells[key] = verdict

    def table(self) -> str:
        consumers = sorted({c.consumer for c in self.cells})
        rows = sorted({(c.producer, c.form) for c in self.cells})
        head = ["producer", "form", *consumers]
        lines = [head, ["-" * len(h) for h in head]]
        for producer, form in rows:
            lines.append(
                [producer, form] + [self.cells.get(Cell(producer, c, form), "") for c in consumers]
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        return "\n".join(
            "| " + " | ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) + " |"
            for line in lines
        )
