"""ferapp.offline.inputs: recordings named by folders, globs and lists, their ids, bad inputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ferapp.offline import inputs
from ferapp.offline.jobs import BatchError


def test_inputs_and_ids(tmp_path, clips):
    found = inputs.collect_inputs([clips])
    assert [p.name for p in found] == ["broken.mp4", "clip0.mp4", "clip1.mp4", "clip2.mp4",
                                       "clip3.mp4"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two of them\n{clips / 'clip0.mp4'}\n{clips / 'clip1.mp4'}\n\n")
    assert len(inputs.collect_inputs([listing, str(clips / "clip*.mp4")])) == 3  # deduplicated



def test_recording_ids_are_unique_per_path_and_stable():
    """Names that collide once sanitised get different ids; an id depends on its path
    alone (not on the other inputs), keeps a readable name, and is safe as a folder and
    a Parquet partition."""
    names = ["a_b.mp4", "a,b.mp4", "a b.mp4", "été.mp4", "x" * 200 + ".mp4", ".hidden.mp4",
             "-rm.mp4", "=SUM(A1).mp4"]
    paths = [Path("/data/study") / n for n in names] + [Path("/data/other/a_b.mp4")]
    ids = [inputs.recording_id(p) for p in paths]
    assert len(set(ids)) == len(ids)
    assert ids == [inputs.recording_id(p) for p in reversed(paths)][::-1]  # no context
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*-[0-9a-f]{10}", i) for i in ids), ids
    assert ids[0].startswith("a_b.mp4-") and ids[1].startswith("a_b.mp4-")
    assert all(len(i) <= inputs.ID_NAME_CHARS + 11 for i in ids)


def _linked_tree(tmp_path: Path) -> Path:
    """A folder of recordings with every kind of link: a loop back to itself, a second
    path to a subfolder, a link to a folder outside, a broken link, a file linking to
    itself."""
    root = tmp_path / "rec"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.mp4").write_bytes(b"a")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "b.mp4").write_bytes(b"b")
    (root / "loop").symlink_to(".")
    (root / "again").symlink_to("sub")
    (root / "outside").symlink_to(outside)
    (root / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (root / "self.mp4").symlink_to("self.mp4")
    return root


def test_links_are_followed_once_and_loops_noted_alike_in_folder_glob_and_list(tmp_path):
    root = _linked_tree(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{root}\n")
    for spec in (root, str(root / "**" / "*.mp4"), listing):
        notes = []
        found = inputs.collect_inputs([spec], notes)
        assert sorted(p.name for p in found) == ["a.mp4", "b.mp4"], spec  # each real file once
        text = "\n".join(notes)
        assert "a folder already searched" in text, (spec, notes)  # loop, and the 2nd path
        assert "gone.mp4: a broken symbolic link" in text
        assert "self.mp4: a symbolic link loop" in text
    # a glob without ** looks no deeper than its pattern, through links too
    assert [p.name for p in inputs.collect_inputs([str(root / "outside" / "*.mp4")])] == \
        ["b.mp4"]


def test_a_listed_link_loop_stays_as_a_failure_and_nothing_left_is_an_error(tmp_path):
    (tmp_path / "self.mp4").symlink_to("self.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text("self.mp4\n")
    found = inputs.collect_inputs([listing])  # no RuntimeError: the loop is reported later
    assert [p.name for p in found] == ["self.mp4"]
    assert inputs.why_unreadable(found[0]) == "a symbolic link loop"
    with pytest.raises(BatchError, match="self.mp4: a symbolic link loop"):
        inputs.collect_inputs([tmp_path / "self.mp4"])  # named on the command line
    with pytest.raises(BatchError, match="matches no file"):
        inputs.collect_inputs([str(tmp_path / "loopdir" / "**" / "*.mp4")])


def test_a_glob_through_a_loop_ends_whatever_the_depth(tmp_path):
    """A loop inside a loop (each link leads back to the top): the walk visits each real
    folder once instead of following the links until the path is too long."""
    root = tmp_path / "deep"
    (root / "x").mkdir(parents=True)
    (root / "x" / "up").symlink_to("..")
    (root / "x" / "here").symlink_to(".")
    (root / "x" / "clip.mp4").write_bytes(b"c")
    notes = []
    found = inputs.collect_inputs([str(root / "**" / "*.mp4")], notes)
    assert [p.name for p in found] == ["clip.mp4"] and len(notes) == 2
