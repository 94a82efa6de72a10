"""Every metric the front and the console export is listed in the README and
in docs/operating/metrics.md (issue 24): an operator finds each one there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def exported() -> set[str]:
    names = set()
    for path, prefix in ((ROOT / "dataplane" / "metrics.py", "qdrant_front_"), (ROOT / "console" / "metrics.py",
                                                                               "console_")):
        for name in re.findall(r'PREFIX \+ "([a-z_]+)"', path.read_text()):
            names.add(prefix + name)
    return names


def test_every_metric_is_listed_in_the_readme_and_the_docs():
    names = exported()
    assert len(names) >= 15
    for document in (ROOT / "README.md", ROOT / "docs" / "operating" / "metrics.md"):
        text = document.read_text()
        # Counters are exposed with _total.
        missing = {name for name in names if name not in text and f"{name}_total" not in text}
        assert not missing, f"{document.name} does not list {sorted(missing)}"
