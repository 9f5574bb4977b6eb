"""Print the requirements the container image installs before forwardpass itself.

The image installs them in a layer of its own, so that a rebuild after a change to the code
alone reuses it. They are read from pyproject.toml: the dependencies and the chosen extras.

    python3 requirements.py pyproject.toml postgres gpu
"""

from __future__ import annotations

import re
import sys
import tomllib

# onnxruntime-gpu installs the same `onnxruntime` package as the CPU build; the two in one
# environment overwrite each other's files.
_REPLACED_BY = {"onnxruntime": "onnxruntime-gpu"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return match.group(0).lower() if match else requirement


def requirements(pyproject: dict[str, object], extras: list[str]) -> list[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    chosen = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no extra named {extra!r}")
        chosen += optional[extra]
    names = {_name(r) for r in chosen}
    return [r for r in chosen if _REPLACED_BY.get(_name(r)) not in names]


def main() -> None:
    path, *extras = sys.argv[1:]
    with open(path, "rb") as file:
        pyproject = tomllib.load(file)
    print("\n".join(requirements(pyproject, [e for e in extras if e])))


if __name__ == "__main__":
    main()
