import numpy as np
import pytest

from semigan.splits import make_split, read_split, write_split


@pytest.fixture
def labels():
    rng = np.random.default_rng(123)
    return rng.integers(0, 10, size=5000)


def test_same_seed_same_split_and_hash(labels):
    a = make_split(labels, 100, 200, seed=3)
    b = make_split(labels, 100, 200, seed=3)
    assert a.digest() == b.digest()
    for part in ("labeled", "val", "unlabeled"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert make_split(labels, 100, 200, seed=4).digest() != a.digest()


def test_class_balanced_and_disjoint(labels):
    s = make_split(labels, 100, 200, seed=0)
    assert np.bincount(labels[s.labeled], minlength=10).tolist() == [10] * 10
    assert np.bincount(labels[s.val], minlength=10).tolist() == [20] * 10
    parts = [set(s.labeled.tolist()), set(s.val.tolist()), set(s.unlabeled.tolist())]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(map(len, parts)) == len(labels)


def test_labelled_sets_nested_and_validation_shared(labels):
    small, big = make_split(labels, 100, 200, 1), make_split(labels, 1000, 200, 1)
    assert set(small.labeled) <= set(big.labeled)
    np.testing.assert_array_equal(small.val, big.val)


def test_not_a_multiple_of_classes_names_the_value(labels):
    with pytest.raises(ValueError, match=r"n_labels=105.*multiple of the number of classes \(10\)"):
        make_split(labels, 105, 200, 0)
    with pytest.raises(ValueError, match=r"n_val=15"):
        make_split(labels, 100, 15, 0)


def test_too_few_images_per_class(labels):
    with pytest.raises(ValueError, match="need more than"):
        make_split(labels, 5000, 200, 0)


def test_written_split_roundtrip_and_tamper_detection(labels, tmp_path):
    s = make_split(labels, 100, 200, 0)
    meta = write_split(s, tmp_path / "s.npz", {"seed": 0})
    assert meta["sha256"] == s.digest() and meta["n_labeled"] == 100
    assert read_split(tmp_path / "s.npz").digest() == s.digest()
    np.savez(tmp_path / "s.npz", labeled=s.labeled[::-1], val=s.val, unlabeled=s.unlabeled[1:])
    with pytest.raises(ValueError, match="content hash"):
        read_split(tmp_path / "s.npz")


def test_small_validation_is_a_seeded_class_balanced_draw_from_the_validation_set():
    from semigan.splits import small_validation

    labels = np.repeat(np.arange(10), 20)[np.random.default_rng(0).permutation(200)]
    pos = small_validation(labels, 50, seed=0)
    assert len(pos) == 50 and np.all(np.diff(pos) > 0)
    assert np.bincount(labels[pos], minlength=10).tolist() == [5] * 10
    assert small_validation(labels, 50, seed=0).tolist() == pos.tolist()  # seeded
    assert small_validation(labels, 50, seed=1).tolist() != pos.tolist()
    # a draw, not the first five of each class in index order (the set is stored sorted)
    draws = [small_validation(labels, 50, seed=s) for s in range(20)]
    prefix = np.sort(np.concatenate([np.flatnonzero(labels == c)[:5] for c in range(10)]))
    assert not any(d.tolist() == prefix.tolist() for d in draws)
    picked = np.bincount(np.concatenate(draws), minlength=200)
    assert picked[prefix].mean() < 8 and picked.max() < 20  # about 20 * 5/20 = 5 each
    assert small_validation(labels, 200, seed=0) is None  # no smaller set to select on
    assert small_validation(labels, 1000, seed=0) is None
    with pytest.raises(ValueError, match=r"small validation set of 55 images: expected a positive multiple .* \(10\)"):
        small_validation(labels, 55, seed=0)
    with pytest.raises(ValueError, match=r"classes \[3\] have fewer than 15"):
        small_validation(np.concatenate([labels[labels != 3], labels[labels == 3][:5]]), 150, seed=0)
