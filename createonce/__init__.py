"""Create once: a create form carries a one-time nonce that the object it
makes records (a unique column), so a repeated POST (a reload, a double
click, two tabs) finds what the first one made instead of making another.
The keys' create forms and the invitation form use it. What is shown once
is rendered redacted in reprs (secret_text.py) and kept only as a peppered
digest (digests.py). Below every app that creates something (it imports
nothing of the console, only the contract's digest), so each may use it.
"""
