"""The layout keeps its promises: modules stay small and no lower layer imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vidstyle"

# Lowest first; a module may import from its own layer and the layers before it. The most
# specific prefix names a module's layer (see docs/ARCHITECTURE.md).
LAYERS: list[tuple[str, ...]] = [
    ("vidstyle.errors",),
    ("vidstyle.style.vgg",),  # the network's layer names, which the settings validate against
    ("vidstyle.settings",),
    ("vidstyle.compute",),
    ("vidstyle.files",),
    ("vidstyle.image",),
    ("vidstyle.video",),
    ("vidstyle.flow",),
    ("vidstyle.style",),
    ("vidstyle.shots",),
    ("vidstyle.config",),
    ("vidstyle.temporal.terms", "vidstyle.temporal.hold", "vidstyle.temporal.schedule", "vidstyle.temporal.units"),
    ("vidstyle.job",),
    ("vidstyle.temporal.runner", "vidstyle.temporal"),  # runs a shot's schedule against the job store
    ("vidstyle.render",),
    ("vidstyle.evaluate",),
    ("vidstyle.cli", "vidstyle.__main__"),
    ("vidstyle",),  # the package's own __init__: the public API
]
MAX_LINES = 420


def _layer(module: str) -> int:
    best, rank = -1, -1
    for k, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), k
    assert rank >= 0, f"{module} is in no layer; add it to LAYERS and docs/ARCHITECTURE.md"
    return rank


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _imports(module: str, path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # ``from vidstyle.style import vgg``
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}: relative import; use absolute imports (a move is then one rename)")
    known = {m for m, _ in _modules()}
    return {n for n in names if n.startswith("vidstyle") and n in known}


@pytest.mark.parametrize("module,path", _modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_lower_layer_imports_a_higher_one(module, path):
    mine = _layer(module)
    for imported in _imports(module, path):
        if imported == "vidstyle" and module.startswith("vidstyle.cli"):
            continue  # ``from vidstyle import __version__``
        assert _layer(imported) <= mine, f"{module} (layer {mine}) imports {imported} (layer {_layer(imported)})"


@pytest.mark.parametrize("module,path", _modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_modules_stay_small(module, path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by concern"


def test_status_does_not_import_render():
    path = PACKAGE / "job" / "status.py"
    assert not any(i.startswith("vidstyle.render") for i in _imports("vidstyle.job.status", path))


def test_render_is_exported_from_the_package():
    import vidstyle
    from vidstyle.render import render

    assert vidstyle.render is render
