"""The layers of bot/ (docs/design.md): each package imports only what sits below it.

Imports are read from the source (function-level ones too), so a lazy import
cannot hide an upward dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"

#: package -> packages of bot it must not import
FORBIDDEN = {
    "bot.gateway": {"bot.slack", "bot.desk", "bot.sync", "bot.store", "bot.runtime", "bot.sandbox"},
    "bot.store": {"bot.slack", "bot.desk", "bot.sync", "bot.runtime", "bot.sandbox"},
    "bot.slack": {"bot.sync", "bot.runtime", "bot.sandbox"},
    "bot.desk": {"bot.runtime", "bot.sandbox"},
    "bot.sync": {"bot.slack.listeners", "bot.runtime.wiring", "bot.runtime.serving"},
    "bot.sandbox": {"bot.slack", "bot.desk", "bot.sync", "bot.store", "bot.runtime"},
}
#: only the runtime wires the layers: nothing else imports it, except the settings
#: that the sync worker reads
RUNTIME_OPEN_TO = {"bot.sync": {"bot.runtime.settings"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "bot":  # from bot import slack
                found |= {f"bot.{alias.name}" for alias in node.names}
    return {name for name in found if name == "bot" or name.startswith("bot.")}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def upward_imports(modules: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a rule, as 'module -> imported'."""
    broken = []
    for module, imported in sorted(modules.items()):
        for package, forbidden in FORBIDDEN.items():
            if not within(module, package):
                continue
            allowed = RUNTIME_OPEN_TO.get(package, set())
            for name in sorted(imported):
                runtime = within(name, "bot.runtime") and not any(within(name, a) for a in allowed)
                if runtime or any(within(name, f) for f in forbidden):
                    broken.append(f"{module} -> {name}")
    return broken


def bot_modules() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in BOT.rglob("*.py")}


def test_no_layer_imports_one_above_it() -> None:
    assert upward_imports(bot_modules()) == []


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("bot.gateway.epixel", "bot.slack.render"),
        ("bot.store.cache", "bot.desk.lookups"),
        ("bot.slack.listeners.events", "bot.sync.replies"),
        ("bot.desk.cards", "bot.runtime.after_ack"),
        ("bot.sync.poller", "bot.runtime.wiring"),
    ],
)
def test_an_upward_import_is_caught(module: str, imported: str) -> None:
    modules = bot_modules()
    before = set(upward_imports(modules))
    modules[module] = modules[module] | {imported}
    assert set(upward_imports(modules)) - before == {f"{module} -> {imported}"}
