"""The design notes the code refers to are in the repository's docs/, and every
reference points there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTES = ("architecture.md", "cli.md", "pixelcopter.md", "hub-api.md")


def _sources() -> list[Path]:
    files = [*ROOT.glob("hubpg/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("scripts/*")]
    return [p for p in files if p.is_file() and p.resolve() != Path(__file__).resolve()]


def test_the_design_notes_are_in_docs() -> None:
    for name in NOTES:
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert text.startswith("# ") and len(text) > 2000, name


def test_every_reference_to_a_note_points_into_docs() -> None:
    names = "|".join(re.escape(n) for n in NOTES)
    pattern = re.compile(rf"(\S*?)\b({names})")
    bad, seen = [], set()
    for path in _sources():
        for match in pattern.finditer(path.read_text(encoding="utf-8", errors="ignore")):
            prefix = match.group(1).strip("`'\"(")
            seen.add(match.group(2))
            if prefix != "docs/":
                bad.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
            assert (ROOT / "docs" / match.group(2)).is_file()
    assert bad == []
    assert seen  # the code does refer to the notes
