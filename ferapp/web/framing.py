"""How long a request's body is must be said one way only (RFC 9112 §6): a request with
both Content-Length and Transfer-Encoding, a transfer coding other than ``chunked``,
Transfer-Encoding in HTTP/1.0, Content-Length given twice, or a header folded onto the
next line (obs-fold) is refused with 400 and its connection closed. Behind a proxy that
reads the framing another way, such a request would smuggle a second one in its body.

Both server modes ask ``framing_problem`` before the app sees a request: waitress' parser
(channels.py) on the raw header block, Flask's development server (servers.py) on the
fields its parser found.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # a header field name (RFC 9110 §5.1)


def framing_problem(version: str, fields: list[tuple[str, str]],
                    folded: bool = False) -> str | None:
    """Why a request with this HTTP version ("1.0", "1.1") and these header fields (name,
    value; in order, repeats kept) must be refused, or None. ``folded``: a header line
    continued on the next one."""
    if folded:
        return ("a header folded onto the next line (obsolete line folding) is not "
                "accepted: send each header on one line")
    if any(not TOKEN.match(name) for name, _ in fields):
        return "a header name with spaces or other characters a name may not have"
    named = {}
    for name, value in fields:
        named.setdefault(name.lower(), []).append(value.strip(" \t"))
    lengths, codings = named.get("content-length", []), named.get("transfer-encoding", [])
    if codings and lengths:
        return "both Content-Length and Transfer-Encoding given: send one of them"
    if len(lengths) > 1:
        return "Content-Length given more than once"
    if codings:
        if version != "1.1":
            return f"Transfer-Encoding in an HTTP/{version} request: send Content-Length"
        listed = [c.strip(" \t").lower() for v in codings for c in v.split(",")]
        if listed != ["chunked"]:
            return (f"transfer coding {', '.join(listed)!r} is not accepted: send the body "
                    "with Content-Length or 'Transfer-Encoding: chunked'")
    return None


def raw_fields(header_block: bytes) -> tuple[str, list[tuple[str, str]], bool]:
    """(HTTP version, fields, folded) of a raw request line and header block."""
    lines = header_block.split(b"\r\n")
    match = re.search(rb" HTTP/(\d\.\d)$", lines[0].rstrip())
    version = match.group(1).decode() if match else "1.0"
    fields, folded = [], False
    for line in lines[1:]:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            folded = True
            continue
        name, _, value = line.partition(b":")
        fields.append((name.decode("latin-1"), value.decode("latin-1")))
    return version, fields, folded
