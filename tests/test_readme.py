"""The README is the front door: short, the two commands, and links into docs/
that lead somewhere (mkdocs checks the links inside docs/, not the README's)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_shows_the_two_commands():
    assert len(README.splitlines()) <= 150
    assert "make run" in README and "make test" in README


def test_every_link_of_the_readme_names_a_file_of_the_tree():
    targets = {link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", README) if "://" not in link}
    assert "docs/index.md" in targets
    assert sorted(target for target in targets if not (ROOT / target).exists()) == []
