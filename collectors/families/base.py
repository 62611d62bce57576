"""What every family shares: a name (for errors and ``partial``) and kept files to close."""

from __future__ import annotations

from collectors.files import DEFAULT_READ_SIZE, FdBudget, KeptFile

# Scalar files hold at most 20 digits and a newline.
SCALAR = 64


class KeptFiles:
    """Base of the readers: opens files lazily from one budget, closes them all at once."""

    name = "?"

    def __init__(self, budget: FdBudget) -> None:
        self._budget = budget
        self._files: list[KeptFile] = []

    def _file(self, directory: str, name: str, size: int = DEFAULT_READ_SIZE) -> KeptFile:
        f = KeptFile(f"{directory}/{name}", self._budget, size)
        self._files.append(f)
        return f

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files.clear()
