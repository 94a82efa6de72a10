"""Every environment variable the console or a front reads is in the
configuration table (docs/operating/configuration.md), and every variable the
table lists is read somewhere: an operator finds each setting there, and a
renamed or removed one cannot linger in the docs."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "operating" / "configuration.md"
# The homes of settings (docs/development/index.md, "Where each rule lives").
SETTINGS = [ROOT / "console" / "settings.py", ROOT / "dataplane" / "settings.py"]
NAME = re.compile(r"[A-Z][A-Z0-9_]+")


def read_variables(path: Path) -> set[str]:
    """Upper-case names passed first to a call: env.int("PORT", …), _str("KEYSET_URL")."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in {"get", "setdefault", "pop"}:
            continue  # a dict's key (DATABASES["default"].setdefault("OPTIONS", …)), not a variable
        if isinstance(node.args[0].value, str) and NAME.fullmatch(node.args[0].value):
            found.add(node.args[0].value)
    return found


def documented_variables() -> set[str]:
    """The back-quoted names in the first cell of each row of the tables."""
    names = set()
    for line in TABLE.read_text().splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[1]))
    return names


def test_every_variable_read_is_in_the_configuration_table():
    read = set().union(*(read_variables(path) for path in SETTINGS))
    assert {"DATABASE_URL", "KEYSET_URL"} <= read  # the scan sees both modules
    assert sorted(read - documented_variables()) == []


def test_every_variable_in_the_table_is_read_by_the_code():
    packages = [p for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in {"tests", "bench"}]
    code = "\n".join(path.read_text() for package in packages for path in package.rglob("*.py"))
    documented = documented_variables()
    assert len(documented) > 40
    assert sorted(name for name in documented if f'"{name}"' not in code) == []
