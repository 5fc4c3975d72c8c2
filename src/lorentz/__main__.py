"""Command line: ``python -m lorentz check``."""

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m lorentz check [--samples N] [--seed S]")
        return 0 if argv else 2
    if argv[0] == "check":
        from ._check import main as check

        return check(argv[1:])
    print(f"unknown command {argv[0]!r}; try: python -m lorentz check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
