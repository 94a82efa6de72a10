"""Create once: a create form carries a one-time nonce that the object it
makes records (a unique column), so a repeated POST (a reload, a double
click, two tabs) finds what the first one made instead of making another.
The keys' create forms and the invitation form use it. Below every app that
creates something (it imports nothing of the console), so each may use it.
"""
