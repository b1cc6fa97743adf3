"""ferapp.offline.report: the share of time per emotion, per-face summaries, timelines."""

from __future__ import annotations

import pandas as pd

from ferapp.labels import EMOTIONS, FACE_COLUMNS
from ferapp.offline.report import emotion_shares, plot_timelines, summarize


def rows(face_id, emotions, t0=0.0):
    out = []
    for i, e in enumerate(emotions):
        scores = [0.9 if x == e else 0.1 / 6 for x in EMOTIONS]
        out.append([i, t0 + i / 10, face_id, 0, 0, 10, 10, e, 0.9, *scores])
    return out


def test_shares_are_in_label_order_and_sum_to_one():
    shares = emotion_shares(pd.Series(["happy", "happy", "sad", "neutral"]))
    assert list(shares) == list(EMOTIONS)
    assert shares["happy"] == 0.5 and shares["sad"] == 0.25 and shares["angry"] == 0.0
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert emotion_shares(pd.Series([], dtype=str)) == dict.fromkeys(EMOTIONS, 0.0)


def test_summary_per_face_and_one_timeline_each(tmp_path):
    df = pd.DataFrame(rows(0, ["happy"] * 3 + ["sad"]) + rows(1, ["fear"] * 2, t0=1.0),
                      columns=list(FACE_COLUMNS))
    summary = summarize(df)
    assert summary["rows"] == 6 and set(summary["faces"]) == {"0", "1"}
    face0 = summary["faces"]["0"]
    assert face0["frames"] == 4 and face0["dominant"] == "happy"
    assert face0["share"]["happy"] == 0.75 and face0["first_s"] == 0.0
    assert summary["faces"]["1"]["last_s"] == 1.1
    paths = plot_timelines(df, tmp_path)
    assert [p.name for p in paths] == ["timeline_face0.png", "timeline_face1.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_csv_cells_that_start_like_a_formula_are_written_as_text(tmp_path):
    """OWASP's CSV injection rule: a text cell starting with = + - @, a tab or a CR is
    prefixed with an apostrophe; numbers (negative ones too) and other text stay as they
    are."""
    import pandas as pd

    from ferapp.offline.report import write_csv

    names = ["=HYPERLINK(\"http://x\")", "+1", "-rm.jpg", "@SUM(A1)", "\tx", "\rx", "ok.jpg",
             "a-b.jpg"]
    write_csv(pd.DataFrame({"file": names, "score": [-0.5] * len(names)}), tmp_path / "f.csv")
    back = pd.read_csv(tmp_path / "f.csv", keep_default_na=False, engine="python")
    assert list(back["file"][:6]) == ["'" + n for n in names[:6]]
    assert list(back["file"][6:]) == ["ok.jpg", "a-b.jpg"]
    assert (back["score"] == -0.5).all()
