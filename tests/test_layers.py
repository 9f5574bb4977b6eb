"""The package's layers import only downwards (docs/architecture.md draws them).

Read from the source with `ast`, so an import inside a function counts as much as one at
the top of a module, and nothing needs to be imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent.parent / "src" / "forwardpass"

#: Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS: list[set[str]] = [
    {"errors", "settings", "__init__"},  # the package root holds only its version
    {"limits"},  # plan values and limiters, of rates, failures and decoded pixels
    {"model"},
    {"codecs"},
    {"importers", "runtime", "client"},
    {"batching", "demos"},
    {"registry"},
    {"serving", "services"},
    {"web"},
    {"server"},
    {"cli"},
    {"__main__"},
]

#: Imports across a layer's own parts that are allowed, named: (importer, imported).
SIDEWAYS: set[tuple[str, str]] = set()


def layer_of(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"forwardpass.{part} is in no layer: add it to LAYERS")


def part_of(module: str) -> str | None:
    pieces = module.split(".")
    if pieces[0] != "forwardpass":
        return None
    if len(pieces) == 1:
        return "__init__"
    part = pieces[1]
    # `from forwardpass import __version__` takes a name of the package root, not a module.
    exists = (SOURCE / part).is_dir() or (SOURCE / f"{part}.py").is_file()
    return part if exists else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "forwardpass":
                found += [(node.lineno, f"forwardpass.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_a_module_imports_only_its_layer_and_below(path: Path) -> None:
    relative = path.relative_to(SOURCE)
    own = relative.parts[0].removesuffix(".py")
    if own == "registry" and "migrations" in relative.parts:
        own = "registry"
    wrong = []
    for line, module in imports(path):
        other = part_of(module)
        if other is None or other == own:
            continue
        if layer_of(other) > layer_of(own):
            wrong.append(f"line {line}: {module} (layer {layer_of(other)} > {layer_of(own)})")
        elif layer_of(other) == layer_of(own) and (own, other) not in SIDEWAYS:
            wrong.append(f"line {line}: {module} (same layer, not in SIDEWAYS)")
    assert not wrong, f"{relative} imports upwards:\n" + "\n".join(wrong)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    # The check itself must be able to fail: a codec importing the server is caught.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from forwardpass.server import app\n")
    assert imports(bad) == [(2, "forwardpass.server")]
    assert layer_of(part_of("forwardpass.server") or "") > layer_of("codecs")
