"""The contract's boundary, read from the imports (ast): the front (dataplane/)
imports nothing of the console but the contract (keyset/); the contract
imports neither Django nor any console app; the console imports no front."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The console's top-level packages (Django apps, the project, its tools).
CONSOLE = {"accounts", "api", "apikeys", "audit", "clusters", "console", "fronts", "managementkeys", "runtimes",
           "bench", "scripts"}


def imports(path: Path) -> set[str]:
    """Top-level modules `path` imports, wherever in the file (inside functions too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def files(*packages: str):
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def arrows(packages, forbidden) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}"
            for path in files(*packages) for name in sorted(imports(path) & forbidden)]


def test_the_front_imports_nothing_of_the_console_but_the_contract():
    assert arrows(["dataplane"], CONSOLE | {"django", "rest_framework", "celery"}) == []


def test_the_contract_imports_neither_django_nor_a_console_app():
    assert arrows(["keyset"], CONSOLE | {"dataplane", "django", "rest_framework", "celery"}) == []


def test_the_console_imports_no_front():
    console = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name in CONSOLE - {"bench"})
    assert arrows(console, {"dataplane"}) == []


@pytest.mark.parametrize("source, forbidden", [
    ("from django.conf import settings\n", "django"),
    ("def f():\n    from apikeys.models import AdminKey\n", "apikeys"),
    ("import dataplane.app as app\n", "dataplane"),
])
def test_the_reader_sees_every_form_of_import(tmp_path, source, forbidden):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert forbidden in imports(path)

