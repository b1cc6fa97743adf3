"""ferapp.offline.inputs: recordings named by folders, globs and lists, their ids, bad inputs."""

from __future__ import annotations

from pathlib import Path

from ferapp.offline import inputs


def test_inputs_and_ids(tmp_path, clips):
    found = inputs.collect_inputs([clips])
    assert [p.name for p in found] == ["broken.mp4", "clip0.mp4", "clip1.mp4", "clip2.mp4",
                                       "clip3.mp4"]
    assert inputs.recording_ids(found)[-1] == "nested__clip3.mp4"
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two of them\n{clips / 'clip0.mp4'}\n{clips / 'clip1.mp4'}\n\n")
    assert len(inputs.collect_inputs([listing, str(clips / "clip*.mp4")])) == 3  # deduplicated
    assert inputs.recording_ids([Path("a/x.mp4"), Path("b/x.mp4")]) == ["a__x.mp4", "b__x.mp4"]
