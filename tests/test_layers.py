"""The console's layers, read from the imports (ast): a module imports only from
layers below its own, never from its own layer's other apps, never an entry
point. The contract's boundary (dataplane/ imports only keyset/, keyset/ no
console app) is tests/test_contract_imports.py's; this is the console's side.

Bottom to top (docs/development/index.md, "Layers"):

    keyset                    the contract with the fronts
    createonce                create once, reveal once, keep a digest
    audit                     the audit log
    accounts                  users, accounts, roles, the access helper
    runtimes, fronts' log     how nodes run; the key set's change log
    clusters
    apikeys                   database API keys, admin keys
    managementkeys
    fronts                    serving the key set to the fronts
    api, console              the management API; the project (settings, urls, Celery app)

Entry points (views, urls, middleware, admin, management commands, template
tags) sit above every layer: Django calls them, no module below imports one.
No two console modules import each other, however far round.
"""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from tests.test_contract_imports import ROOT

LAYERS = [
    {"keyset"},
    {"createonce"},
    {"audit"},
    {"accounts"},
    {"runtimes", "fronts.models", "fronts.changelog", "fronts.embedded"},
    {"clusters"},
    {"apikeys"},
    {"managementkeys"},
    {"fronts"},
    {"api", "console"},
]
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
ENTRY_POINTS = {"views", "urls", "middleware", "admin", "management", "templatetags"}

# Arrows against the layers that are known and not yet moved: "file imports
# module" -> why it is still there. The test fails when one goes away too, so
# the list only shrinks.
KNOWN = {
    "accounts/adapters.py imports clusters": "MFA secrets use the master keys' encryption (clusters/crypto.py)",
}


def unit_of(module: str) -> str | None:
    """The layer unit of a dotted module name: the longest prefix in LAYERS."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYER_OF:
            return ".".join(parts[:end])
    return None


def is_entry_point(module: str) -> bool:
    return bool(ENTRY_POINTS & set(module.split(".")[1:])) or unit_of(module) in LAYERS[-1]


def imported(path: Path) -> list[tuple[str, str]]:
    """Every absolute import in `path`, wherever in the file, as (the module it
    names, the dotted name it takes): `from a.b import c` is ("a.b", "a.b.c"),
    so `from fronts import changelog` is known to take fronts.changelog."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [(node.module, f"{node.module}.{alias.name}") for alias in node.names]
    return names


def against_the_layers(source: str, target: str) -> bool:
    """Whether module `source` importing `target` runs against the layers."""
    mine, theirs = unit_of(source), unit_of(target)
    if theirs is None or mine == theirs:
        return False
    if LAYER_OF[theirs] == LAYER_OF[mine] and theirs.split(".")[0] == mine.split(".")[0]:
        return False  # one app's part of a layer (fronts' change log) is one unit
    if is_entry_point(target):
        return not is_entry_point(source)
    return not is_entry_point(source) and LAYER_OF[theirs] >= LAYER_OF[mine]


def arrows() -> set[str]:
    """"file imports module" for every import against the layers."""
    return {f"{path.relative_to(ROOT)} imports {module}"
            for source, path in console_files() for module, target in imported(path)
            if against_the_layers(source, target)}


def console_files(packages=None):
    for package in packages or sorted({unit.split(".")[0] for unit in LAYER_OF}):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def module_cycle(packages=None) -> list[str] | None:
    """A cycle of modules of these packages (the console's by default)
    importing each other (imports inside functions count: they only hide a
    cycle from the interpreter), or None."""
    modules = dict(console_files(packages))

    def module_of(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {module: {module_of(target) for _, target in imported(path)} - {None, module}
             for module, path in modules.items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        return error.args[1]
    return None


def test_no_modules_import_each_other():
    assert module_cycle() is None


def test_no_modules_of_the_front_import_each_other():
    assert module_cycle(["dataplane"]) is None


def test_every_import_runs_down_the_layers():
    unexpected = sorted(arrows() - set(KNOWN))
    assert unexpected == [], ("imports against the layers (move the piece down, or list it in KNOWN with why):\n"
                              + "\n".join(unexpected))


def test_every_known_exception_still_exists():
    assert sorted(set(KNOWN) - arrows()) == [], "moved: take these out of KNOWN"


def test_every_console_app_has_a_layer():
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")} | {"keyset", "createonce"}
    assert apps - set(LAYER_OF) == set()


@pytest.mark.parametrize("source, target, against", [
    ("accounts.services", "apikeys.tokens.mint_jwt", True),           # up a layer
    ("apikeys.services", "accounts.models.Membership", False),       # down
    ("apikeys.services", "apikeys.models.DatabaseApiKey", False),    # its own app
    ("managementkeys.forms", "apikeys.forms.KeyForm", False),        # a form is no entry point
    ("clusters.services", "fronts.changelog.keys_changed", False),   # the change log sits below
    ("fronts.changelog", "fronts.rows.snapshot", True),              # the rest of fronts does not
    ("runtimes.qdrant", "console.celery.app", True),                 # the project is on top
    ("clusters.selectors", "accounts.views.home", True),             # nothing imports a view ...
    ("audit.views", "accounts.access.cluster_for", False),           # ... and a view imports anything
    ("console.urls", "accounts.views", False),
    ("keyset.rights", "django.conf.settings", False),                # not the console's: the contract test's
])
def test_the_rule(source, target, against):
    assert against_the_layers(source, target) is against


def test_the_reader_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "module.py"
    path.write_text("def f():\n    from fronts import changelog\n    import clusters.models as m\n")
    assert imported(path) == [("fronts", "fronts.changelog"), ("clusters.models", "clusters.models")]
