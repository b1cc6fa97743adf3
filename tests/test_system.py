"""ferapp.system: the CPU's int8 dot-product flags, atomic writes, cores."""

from __future__ import annotations

import pytest

from ferapp import system


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "avx512f", "avx512_vnni"}, True),   # AMD EPYC Zen 4, Intel Cascade Lake on
    ({"avx2", "avx_vnni"}, True),                 # Intel Alder Lake
    ({"avx2", "amx_int8", "amx_bf16"}, True),     # Intel Sapphire Rapids
    ({"fp", "asimd", "asimddp"}, True),           # Arm with SDOT
    ({"avx2", "fma", "avx512f", "avx512bw"}, False),  # AVX-512 without VNNI
    ({"avx2", "fma"}, False),                     # AMD EPYC Zen 3
])
def test_int8_dot_products_from_the_cpu_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(system, "cpu_flags", lambda: flags)
    assert system.int8_dot_products() is expected


def test_cpu_flags_reads_this_machine():
    """Linux reports the CPU's flags: every x86-64 CPU has SSE2 (an empty set would pass a
    weaker check and make every bench say 'no int8 dot products')."""
    import platform

    flags = system.cpu_flags()
    if platform.system() != "Linux":
        pytest.skip("cpu_flags reads /proc/cpuinfo (Linux)")
    assert len(flags) > 5
    if platform.machine() in ("x86_64", "AMD64"):
        assert {"sse2", "avx2"} & flags


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "state.json"
    system.atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), system.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left
    with system.atomic_path(tmp_path / "w.weights.h5") as tmp:
        assert tmp.name.endswith("w.weights.h5")  # suffixes kept for Keras and numpy
        tmp.write_text("new")
    assert (tmp_path / "w.weights.h5").read_text() == "new"


def test_cores_is_positive():
    assert system.cores() >= 1
