"""ferapp.learning.ferplus: the majority rule of the data README, vote distributions, bad files."""

import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.learning import ferplus
from tests.helpers import row

HEADER = "split,file," + ",".join(ferplus.VOTE_COLUMNS)


@pytest.mark.parametrize("votes, expected", [
    (row(anger=9, neutral=1), "angry"),                   # a clear winner
    (row(happiness=6, surprise=4), "happy"),
    (row(sadness=4, neutral=3, fear=3), "sad"),           # plurality is enough
    (row(fear=5, surprise=5), None),                      # a tie between two emotions
    (row(neutral=3, sadness=3, anger=2, unknown=2), None),  # a tie at the top
    (row(contempt=5, disgust=3, anger=2), None),          # contempt outvotes every emotion
    (row(unknown=6, neutral=4), None),                    # unknown majority
    (row(NF=10), None),                                   # not a face
    (row(NF=4, surprise=4, happiness=2), "surprise"),     # NF ties, does not outvote
    (row(disgust=3, contempt=2, unknown=2, NF=2, neutral=1), "disgust"),
])
def test_majority_rule(votes, expected):
    label = ferplus.majority_labels(votes)[0]
    assert label == (ferplus.NO_LABEL if expected is None else EMOTIONS.index(expected))


def test_unlabelled_rows_are_left_out():
    votes = np.stack([row(happiness=10), np.full(10, -1)])
    assert list(ferplus.majority_labels(votes)) == [EMOTIONS.index("happy"), -1]


def test_vote_distribution_in_emotions_order():
    dist, ok = ferplus.vote_distribution(np.stack([
        row(happiness=6, surprise=2, contempt=2), row(NF=10), np.full(10, -1)]))
    assert list(ok) == [True, False, False]
    assert dist[0, EMOTIONS.index("happy")] == pytest.approx(0.75)
    assert dist[0, EMOTIONS.index("surprise")] == pytest.approx(0.25)
    assert dist[0].sum() == pytest.approx(1) and not dist[1:].any()


def write(tmp_path, text):
    p = tmp_path / "votes.csv"
    p.write_text(text)
    return p


def test_read_votes_and_align(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    (tmp_path / "train" / "happy" / "Training_1.jpg").write_bytes(b"x")
    p = write(tmp_path, f"{HEADER}\nTraining,train/happy/Training_1.jpg,0,9,0,0,0,0,0,0,1,0\n")
    votes = ferplus.read_votes(p, tmp_path)
    aligned = ferplus.votes_for([tmp_path / "train/happy/Training_1.jpg",
                                 tmp_path / "train/happy/Training_2.jpg"], tmp_path, votes)
    assert list(aligned[0]) == [0, 9, 0, 0, 0, 0, 0, 0, 1, 0] and (aligned[1] == -1).all()


@pytest.mark.parametrize("text, message", [
    (None, "not found"),
    ("split,file,neutral,happiness\nTraining,a.jpg,5,5\n", "lacks the column(s) surprise"),
    (f"{HEADER}\nTraining,a.jpg,5,5,1,0,0,0,0,0,0,0\n", "line 2: votes must be >= 0 and sum to 10"),
    (f"{HEADER}\nTraining,a.jpg,0,0,0,0,0,0,0,0,0,0\n", "sum to 10"),
    (f"{HEADER}\nTraining,a.jpg,-1,11,0,0,0,0,0,0,0,0\n", "votes must be >= 0"),
    (f"{HEADER}\nTraining,a.jpg,x,10,0,0,0,0,0,0,0,0\n", "votes must be integers"),
    (f"{HEADER}\nTraining,a.jpg,5,5,0,0,0,0,0,0,0\n", "votes must be integers"),
    (f"{HEADER}\n", "holds no vote rows"),
    (f"{HEADER}\nTraining,a.jpg,0,10,0,0,0,0,0,0,0,0\n", "1 file(s) named in"),
])
def test_bad_votes_file_is_one_line_error(tmp_path, text, message):
    path = tmp_path / "missing.csv" if text is None else write(tmp_path, text)
    pattern = message.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ferplus.FerPlusError, match=pattern) as err:
        ferplus.read_votes(path, tmp_path)
    assert "\n" not in str(err.value)


def test_binary_file_is_clear_error(tmp_path):
    p = tmp_path / "votes.csv"
    p.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(ferplus.FerPlusError):
        ferplus.read_votes(p)


def test_shipped_votes_file_is_valid(data_dir):
    votes = ferplus.read_votes(ferplus.default_votes_path(data_dir), data_dir)
    assert len(votes) == 35712
    labels = ferplus.majority_labels(np.stack(list(votes.values())))
    assert 0.9 < (labels >= 0).mean() < 1
