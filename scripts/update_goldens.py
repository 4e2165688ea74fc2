"""Rewrite the golden files of tests/golden/ from the current code. Run by a person, on purpose.

The golden tests only compare; when the output changes deliberately, run

    python scripts/update_goldens.py            # every golden file
    python scripts/update_goldens.py --check    # only say which ones differ (exit 1 if any)
    python scripts/update_goldens.py confusion_small.txt

then read ``git diff tests/golden`` before committing. ``analyze_sample_test.txt`` is
also quoted in README.md (tests/cli/test_analyze_cli.py checks it): update the README too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from golden.cases import CASES, GOLDEN  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(CASES)}")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on a change")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(CASES))
    if unknown:
        parser.error(
            f"no golden file {', '.join(unknown)}; the golden files are {', '.join(CASES)}"
        )
    changed = []
    for name in args.names or list(CASES):
        path = GOLDEN / name
        with tempfile.TemporaryDirectory() as tmp:
            text = CASES[name](Path(tmp))
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if text == old:
            print(f"unchanged  {path.relative_to(ROOT)}")
            continue
        changed.append(name)
        if args.check:
            print(f"differs    {path.relative_to(ROOT)}")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"rewritten  {path.relative_to(ROOT)}")
    if "analyze_sample_test.txt" in changed and not args.check:
        print("analyze_sample_test.txt is quoted in README.md: update it there too.")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
