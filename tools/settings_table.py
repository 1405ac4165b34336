"""Write the table of the server's settings into docs/production.md, from their declarations in impl/config.py.

    .venv/bin/python -m tools.settings_table            # rewrites the table in docs/production.md
    .venv/bin/python -m tools.settings_table --dry-run  # prints it instead

tests/test_docs.py fails when the table in the page differs from what this
writes, so a setting declared, renamed or re-worded shows up in the docs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "production.md"
BEGIN = "<!-- settings-table:begin (tools/settings_table.py writes this part) -->"
END = "<!-- settings-table:end -->"


def render_table() -> str:
    """Return the Markdown table of every setting: flag, variable, default, meaning."""
    from impl.config import SETTINGS
    from impl.serve import shown_default

    lines = ["| flag | variable | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        flag = f"`{s.flag}`" + (f" / `--no-{s.flag[2:]}`" if s.kind == "bool" and s.negatable else "") if s.flag else "—"
        env = f"`{s.env}`" + "".join(f" (or `{alias}`)" for alias in s.aliases) if s.env else "—"
        default = shown_default(s, here=False) or "off"
        if s.shown_default is None:
            default = f"`{default}`"
        meaning = s.help + (f"; {s.wants}" if s.wants else "")
        lines.append(f"| {flag} | {env} | {default} | {meaning} |")
    return "\n".join(lines)


def replace_between_markers(text: str, table: str) -> str:
    """Return `text` with what lies between BEGIN and END replaced by `table`; refuse if the markers are missing."""
    before, found, rest = text.partition(BEGIN + "\n")
    _, found_end, after = rest.partition(END)
    if not found or not found_end:
        raise ValueError(f"the text has no {BEGIN} … {END} markers")
    return f"{before}{BEGIN}\n{table}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.settings_table", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the table instead of writing docs/production.md")
    args = parser.parse_args(argv)
    table = render_table()
    if args.dry_run:
        print(table)
        return 0
    PAGE.write_text(replace_between_markers(PAGE.read_text(encoding="utf-8"), table), encoding="utf-8")
    print(f"wrote the table into {PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
