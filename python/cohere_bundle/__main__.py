"""``python -m cohere_bundle ...``: the same command line as the ``cohere-bundle`` binary (compiled into the
extension module from the same source)."""

from __future__ import annotations

import sys
from typing import List, Optional

from . import _native


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line with ``argv`` (default ``sys.argv[1:]``); returns its exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return _native.cli_main(["cohere-bundle", *args])
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
