"""vaelab's one error type.

Every problem a user can fix (bad config, missing data, corrupt file, unsupported data
for a likelihood, non-finite loss) raises ``VaelabError`` with a one-line message that
names the thing and says what to do. The CLI prints that line and exits with code 2;
anything else escaping is a bug in vaelab.
"""


class VaelabError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""


def shown(value: object) -> str:
    """A user-supplied name as it should appear in a one-line message: as typed when it
    is printable, else its repr (so a stray newline cannot split the message)."""
    text = str(value)
    return text if text.isprintable() else repr(text)
