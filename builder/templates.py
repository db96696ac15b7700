"""The one Jinja2 environment: stage Dockerfiles, the launcher's generated header, systemd units.

Every kind of template is code (a Dockerfile, a C header, a unit file), so nothing is
HTML-escaped, every variable must exist (a typo fails the render instead of
printing nothing), and values that end up inside C string literals go
through the ``c_string`` filter.
"""

from __future__ import annotations

import functools

import jinja2

from builder.resources import dockerfiles_dir, launcher_dir, unit_templates_dir


def c_string_body(text: str) -> str:
    """The inside of a C string literal holding ``text`` as UTF-8.

    Only printable ASCII passes through; everything else becomes a three-digit
    octal escape, which can never merge with a following digit.  ``?`` is
    escaped because C11 still has trigraphs.
    """
    out: list[str] = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


_SIMPLE_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "?": "\\?",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
}


@functools.cache
def environment() -> jinja2.Environment:
    """Templates from ``dockerfiles/`` (``<stage>.Dockerfile.j2``), ``launcher/`` (``tasks.h.j2``)
    and ``builder/unit_templates/`` (``systemd.unit.j2``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(dockerfiles_dir()), str(launcher_dir()), str(unit_templates_dir())]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_string"] = c_string_body
    return env
