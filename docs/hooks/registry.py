"""mkdocs hook: the API reference lists the registered operations from the registry.

A line ``<!-- registry: Group -->`` in a page becomes one ``::: lorentz.<name>`` entry per
operation of that group in ``lorentz._registry.OPERATIONS``, in the registry's order, so an
operation added there is documented without editing the page.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"^<!-- registry: (?P<group>[^>]+?) -->$", re.MULTILINE)


def on_page_markdown(markdown, page, config, files):
    from lorentz._registry import OPERATIONS

    def entries(match):
        group = match.group("group")
        names = [name for name, op in OPERATIONS.items() if op.group == group]
        if not names:
            raise ValueError(f"{page.file.src_uri}: no registered operation in group {group!r}")
        return "\n".join(f"::: lorentz.{name}" for name in names)

    return MARKER.sub(entries, markdown)
