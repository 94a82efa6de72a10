class SecretText(str):
    """A key or token as a reveal page's context holds it: it renders as itself
    but reprs as stars, since Django puts the repr of a template's whole context
    in some log records and error reports (e.g. a variable that does not resolve)."""

    def __repr__(self) -> str:
        return "'********'"


class SecretList(list):
    """Snippets that carry the key, redacted in reprs for the same reason."""

    def __repr__(self) -> str:
        return f"[{len(self)} snippets with the key, redacted]"
