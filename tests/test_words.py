"""The words helper: counts and articles as people write them."""
from konstrukt.words import a, agree, count


def test_counts_take_the_singular_for_one():
    assert count(1, "run") == "1 run" and count(4, "run") == "4 runs" and count(0, "file") == "0 files"
    assert count(1, "class") == "1 class" and count(2, "class") == "2 classes"
    assert count(3, "leaked example") == "3 leaked examples"
    assert agree(1, "is", "are") == "is" and agree(2, "is", "are") == "are"


def test_articles_follow_the_sound():
    assert a("image") == "an image" and a("sound") == "a sound" and a("signal") == "a signal"
    assert a("speech") == "a speech" and a("ONNX model") == "an ONNX model" and a("audio") == "an audio"


def test_a_file_of_the_wrong_kind_says_an_image_project(tmp_path):
    import pytest

    from konstrukt.data import check_file
    from konstrukt.errors import DataError

    (tmp_path / "x.wav").write_bytes(b"RIFF")
    with pytest.raises(DataError, match="an image project takes"):
        check_file("image", tmp_path / "x.wav")
