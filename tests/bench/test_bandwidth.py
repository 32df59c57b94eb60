"""The bandwidth ceiling is measured once per device, and only a measurement says so."""

from __future__ import annotations

import pytest

from blossom_edge.bench import bandwidth
from blossom_edge.device.probe import probe
from tests import DATA

pytestmark = pytest.mark.usefixtures("data_home")


def test_only_a_measurement_is_announced(monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[int] = []
    monkeypatch.setattr(bandwidth, "measure", lambda threads, size: measured.append(size) or 12e9)
    info = probe()
    notes: list[str] = []
    for _ in range(3):
        assert bandwidth.bandwidth_for(info, given_gbs=None, note=notes.append) == 12e9
    assert len(measured) == 1 and notes == ["measuring memory bandwidth (once per device)"]
    assert bandwidth.bandwidth_for(info, given_gbs=3, note=notes.append) == 3e9 and len(notes) == 1


def test_a_captured_device_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth, "measure", lambda threads, size: pytest.fail("measured"))
    from blossom_edge.device.tree import Tree

    info = probe(Tree(DATA / "devices" / "raspberry-pi-5"))
    notes: list[str] = []
    assert bandwidth.bandwidth_for(info, given_gbs=None, this_machine=False, note=notes.append) is None
    assert notes == []
