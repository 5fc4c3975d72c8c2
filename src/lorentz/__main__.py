"""Command line: ``python -m lorentz demo`` (the WordNet embedding) and
``python -m lorentz check`` (the self-check)."""

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: python -m lorentz demo [--help]\n       python -m lorentz check [--samples N] [--seed S]"
        )
        return 0 if argv else 2
    try:
        if argv[0] == "check":
            from ._selfcheck import main as check

            return check(argv[1:])
        if argv[0] == "demo":
            from .demo import main as demo

            return demo(argv[1:])
    except KeyboardInterrupt:  # Ctrl-C: the shell's code for SIGINT, and no traceback
        print("\ninterrupted", file=sys.stderr)
        return 130
    print(f"unknown command {argv[0]!r}; try: python -m lorentz demo, or check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
