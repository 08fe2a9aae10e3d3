"""The leaderboard as text: an aligned table (then the rows set apart) and CSV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubpg.ranking.rows import ROW_KEYS, not_verifiable
from hubpg.runfolder import format_score

Column = tuple[str, Callable[[dict[str, Any]], str], bool]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _short_date(value: str | None) -> str:
    return "-" if not value else value.replace("T", " ")[:16]


def _columns(rows: list[dict[str, Any]], verified: bool) -> list[Column]:
    columns: list[Column] = [
        ("rank", lambda r: str(r["rank"]), True),
        ("repo", lambda r: r["repo_id"], False),
        ("claimed", lambda r: format_score(r["claimed_mean"], r["claimed_std"]), True),
        ("score", lambda r: _fmt(r["claimed_score"]), True),
    ]
    if verified:
        columns += [
            ("measured", lambda r: format_score(r["measured_mean"], r["measured_std"]), True),
            ("score", lambda r: _fmt(r["measured_score"]), True),
            (
                "claim holds",
                lambda r: {True: "yes", False: "NO"}.get(r["claim_supported"], "-"),
                False,
            ),
        ]
    columns.append(("date (UTC)", lambda r: _short_date(r["date"]), False))
    if any(r.get("other_format") for r in rows):
        columns.append(("note", lambda r: not_verifiable(r) or "", False))
    return columns


def _aligned(rows: list[dict[str, Any]], columns: list[Column]) -> list[str]:
    cells = [[get(r) for _, get, _ in columns] for r in rows]
    widths = [max(len(name), *(len(c[i]) for c in cells)) for i, (name, _, _) in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, (_, _, right) in zip(values, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line([name for name, _, _ in columns]), *(line(c) for c in cells)]


def format_table(rows: list[dict[str, Any]], verified: bool = False) -> str:
    """The ranked rows as an aligned text table, then a "set apart" section.

    Args:
        rows: ranked rows, then the set-apart ones (as :func:`~hubpg.ranking.leaderboard`).
        verified: show the measured columns.
    """
    ranked = [r for r in rows if r["rank"] is not None]
    apart = [r for r in rows if r["rank"] is None]
    lines = _aligned(ranked, _columns(ranked, verified)) if ranked else ["no ranked models"]
    if apart:
        lines += ["", f"set apart ({len(apart)}):"]
        width = max(len(r["repo_id"]) for r in apart)
        for r in apart:
            claim = f" (claims {_fmt(r['claimed_score'])})" if r.get("other_format") else ""
            lines.append(f"  {r['repo_id'].ljust(width)}  {r['problem']}{claim}")
    return "\n".join(lines)


def write_csv(rows: list[dict[str, Any]], stream: Any) -> None:
    """Header + one line per row (empty cells for None, floats without rounding noise).

    Args:
        rows: the rows.
        stream: a text stream.
    """
    import csv

    from hubpg.runfolder import clean_numbers

    writer = csv.DictWriter(stream, fieldnames=list(ROW_KEYS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else clean_numbers(v)) for k, v in row.items()})


__all__ = ["format_table", "write_csv"]
