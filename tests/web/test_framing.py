"""ferapp.web.framing: which request framings are refused (the real servers answer them in
tests/e2e/test_framing.py)."""

from __future__ import annotations

import pytest

from ferapp.web.framing import framing_problem, raw_fields

CL, TE = ("Content-Length", "5"), ("Transfer-Encoding", "chunked")


@pytest.mark.parametrize("version, fields, folded, needle", [
    ("1.1", [CL, TE], False, "both Content-Length and Transfer-Encoding"),
    ("1.1", [TE, ("content-length", "0")], False, "both"),
    ("1.1", [("Transfer-Encoding", "gzip, chunked")], False, "'gzip, chunked'"),
    ("1.1", [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], False,
     "'chunked, chunked'"),
    ("1.1", [("Transfer-Encoding", "identity")], False, "not accepted"),
    ("1.0", [TE], False, "HTTP/1.0"),
    ("1.1", [CL, ("Content-Length", "5")], False, "more than once"),
    ("1.1", [("Content-Length ", "5")], False, "header name"),
    ("1.1", [("Host", "x")], True, "folded"),
])
def test_ambiguous_framings_are_refused(version, fields, folded, needle):
    problem = framing_problem(version, fields, folded)
    assert problem and needle in problem


@pytest.mark.parametrize("fields", [[], [CL], [TE], [("Transfer-Encoding", " Chunked ")],
                                    [("Host", "a"), ("Accept", "*/*")]])
def test_one_framing_is_accepted(fields):
    assert framing_problem("1.1", fields) is None


def test_raw_header_blocks_are_read_as_the_server_reads_them():
    block = (b"POST /api/predict HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n"
             b"Content-Length: 3")
    version, fields, folded = raw_fields(block)
    assert version == "1.1" and folded
    assert fields == [("Host", " a"), ("Transfer-Encoding", ""), ("Content-Length", " 3")]
    assert raw_fields(b"GET / HTTP/1.0\r\n")[0] == "1.0"
    assert framing_problem(*raw_fields(b"GET / HTTP/1.1\r\nHost: a")) is None
