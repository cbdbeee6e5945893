"""``python -m solutions NAME [options]``: train an assignment's reference (its ``main``).

Each assignment with a reference has a module or package ``solutions/NAME`` whose ``main(argv)``
trains it with the assignment's defaults; ``python -m solutions`` alone lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

SHARED = {"data", "plots"}  # modules every assignment uses, not assignments


def assignments() -> list[str]:
    """The assignments that have a reference with a ``main``."""
    folder = Path(__file__).resolve().parent
    return sorted(info.name for info in pkgutil.iter_modules([str(folder)])
                  if info.name not in SHARED and not info.name.startswith("_"))


def trainer(name: str):  # noqa: ANN201 - the assignment's main function
    module = importlib.import_module(f"solutions.{name}")
    main = getattr(module, "main", None)
    if main is None:
        module = importlib.import_module(f"solutions.{name}.training")
        main = module.main
    return main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = assignments()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in names:
        stream = sys.stdout if not argv or argv[0] in ("-h", "--help") else sys.stderr
        if argv and argv[0] not in ("-h", "--help"):
            print(f"python -m solutions: no assignment {argv[0]!r}", file=stream)
        print("usage: python -m solutions NAME [options]   (NAME: " + ", ".join(names) + ")\n"
              "Trains the assignment's reference with its defaults; python -m solutions NAME --help "
              "lists its options.", file=stream)
        return 0 if stream is sys.stdout else 4
    return trainer(argv[0])(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
