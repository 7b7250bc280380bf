"""The layers of `bot/`, read from the imports in its source: a module may import its own
layer and the layers below it, never one above. One test per rule."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, function-level ones included;
    relative imports resolved against the file's package."""
    package = module_name(path if path.name == "__init__.py" else path.parent, root)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def upward_imports(layer: str, allowed: tuple[str, ...], root: Path = BOT) -> list[str]:
    """`file:line imports module` for each import of `bot.*` from `bot.<layer>` that is
    outside the layer itself and the `allowed` packages."""
    found = []
    for path in sorted((root / layer).rglob("*.py")):
        for line, module in imported(path, root):
            inside = within(module, f"bot.{layer}") or any(within(module, a) for a in allowed)
            if within(module, "bot") and not inside:
                found.append(f"{path.relative_to(root.parent)}:{line} imports {module}")
    return found


def test_the_gateway_imports_nothing_else_of_bot() -> None:
    assert (BOT / "gateway").is_dir()
    assert upward_imports("gateway", allowed=()) == []


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    # The reader itself: an import of the runtime from a gateway module is seen.
    source = tmp_path / "bot" / "gateway" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "import bot.gateway.models\n"
        "from . import errors\n"
        "def f():\n    from bot.runtime.settings import Settings\n"
    )
    assert upward_imports("gateway", allowed=(), root=tmp_path / "bot") == [
        "bot/gateway/x.py:4 imports bot.runtime.settings"
    ]
