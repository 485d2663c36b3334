"""What every entry point of ``experiments`` shares: clean error exits and device selection."""
from __future__ import annotations

import sys


def run(main) -> None:
    """Run an entry point's ``main()``; bad input ends with its message and exit code 2, not a traceback.

    ``DataError`` is a ``ValueError`` whose message names the file (and line) at fault.
    """
    try:
        code = main()
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def resolve_device(requested: str | None) -> str:
    """``None`` or ``"auto"``: CUDA when available, else CPU; asking for CUDA without one is an error."""
    import torch

    if requested in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {requested}: no CUDA device is available")
    return requested
