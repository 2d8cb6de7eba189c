"""The image keyword task: the normaliser, the 15-25 contract and the set metrics on hand-made sets."""

from __future__ import annotations

import pytest

from stillhouse.chat import Image
from stillhouse.errors import InvalidInputError
from stillhouse.tasks import get_task
from stillhouse.tasks.image_keywords import ImageKeywordsTask, image_messages
from stillhouse.tasks.image_keywords.metrics import jaccard, prf, set_scores
from stillhouse.tasks.image_keywords.parse import normalise_keyword, singular, split_keywords

TWENTY = ", ".join(f"word{i}" for i in range(20))


def test_registered_under_its_name():
    task = get_task("image-keywords")
    assert isinstance(task, ImageKeywordsTask)
    assert "15-25 search-optimized keywords" in task.system_prompt


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Red   Cars ", "red car"),
        ("1. Astronaut", "astronaut"),
        ("- Space Suits.", "space suit"),
        ('"Puppies"', "puppy"),
        ("Boxes", "box"),
        ("Churches", "church"),
        ("glass", "glass"),
        ("sunglasses", "sunglasses"),
        ("bus", "bus"),
        ("joyous", "joyous"),
        ("cats!", "cat"),
        ("   ", ""),
    ],
)
def test_normalise_keyword(raw, expected):
    assert normalise_keyword(raw) == expected


def test_singular_leaves_short_and_non_alphabetic_words():
    assert singular("gas") == "gas"
    assert singular("80s") == "80s"


def test_split_drops_duplicates_after_normalising_and_keeps_order():
    text = "Keywords: Cat, cats, Black Cat,\n- black cats; window, CAT"
    assert split_keywords(text) == ["cat", "black cat", "window"]


def test_parse_accepts_fifteen_to_twenty_five():
    task = ImageKeywordsTask()
    for n in (15, 25):
        parsed = task.parse(", ".join(f"k{i}" for i in range(n)))
        assert parsed.ok and len(parsed.value["keywords"]) == n


def test_parse_reports_too_few_counting_duplicates_once():
    parsed = ImageKeywordsTask().parse(", ".join(["cat", "cats"] * 10 + [f"k{i}" for i in range(13)]))
    assert not parsed.ok and parsed.errors == ["too-few-keywords: 14 < 15"]


def test_parse_reports_too_many():
    parsed = ImageKeywordsTask().parse(", ".join(f"k{i}" for i in range(26)))
    assert parsed.errors == ["too-many-keywords: 26 > 25"]


def test_parse_reports_an_empty_answer():
    assert ImageKeywordsTask().parse(" , ,\n").errors == ["empty: no keyword in the answer"]


def test_lenient_value_and_accept_with_repair_never_pass_a_broken_count():
    task = ImageKeywordsTask()
    assert task.lenient_value("a, b") == {"keywords": ["a", "b"]}
    assert not task.accept("a, b", repair=True).ok
    assert task.lenient_value(" ,") is None


def test_render_round_trips():
    task = ImageKeywordsTask()
    value = task.parse(TWENTY).value
    assert task.render(value) == TWENTY
    assert task.parse(task.render(value)).value == value


def test_jaccard_on_hand_made_sets():
    assert jaccard({"a", "b", "c"}, {"b", "c", "d"}) == pytest.approx(2 / 4)
    assert jaccard({"a"}, {"b"}) == 0.0
    assert jaccard(set(), set()) == 1.0
    assert jaccard(["a", "a"], ["a"]) == 1.0


def test_prf_on_hand_made_sets():
    assert prf({"a", "b", "c", "d"}, {"a", "b"}) == pytest.approx((0.5, 1.0, 2 / 3))
    assert prf(set(), {"a"}) == (0.0, 0.0, 0.0)
    assert prf(set(), set()) == (1.0, 1.0, 1.0)


def test_micro_and_macro_differ_as_they_should():
    # Image 1: 1 of 1 right; image 2: 1 of 4 right, against two references of two keywords.
    predicted = [{"a"}, {"x", "y", "z", "c"}]
    reference = [{"a", "b"}, {"c", "d"}]
    scores = set_scores(predicted, reference)
    assert scores.micro_precision == pytest.approx(2 / 5)
    assert scores.micro_recall == pytest.approx(2 / 4)
    assert scores.macro_precision == pytest.approx((1.0 + 0.25) / 2)
    assert scores.macro_recall == pytest.approx((0.5 + 0.5) / 2)
    assert scores.mean_jaccard == pytest.approx((1 / 2 + 1 / 5) / 2)
    assert scores.micro_f1 == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert scores.mean_keywords == pytest.approx(2.5)
    assert scores.images == 2


def test_set_scores_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        set_scores([{"a"}, {"b"}], [{"a"}])


def test_score_against_teacher_and_human_labels():
    task = ImageKeywordsTask()
    teacher = TWENTY
    prediction = ", ".join(f"word{i}" for i in range(10, 30))  # 10 shared of 30 distinct
    human = "word10, word11, person"
    scores = task.score_against(prediction, teacher, human)
    assert scores["jaccard"] == pytest.approx(10 / 30)
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(0.5)
    assert scores["keyword_count"] == 20.0 and scores["valid"] == 1.0
    assert scores["jaccard_human"] == pytest.approx(2 / 21)
    assert scores["f1_human"] == pytest.approx(2 * 0.1 * (2 / 3) / (0.1 + 2 / 3))
    assert "jaccard_human" not in task.score(prediction, teacher)


def test_score_marks_a_contract_breaking_prediction_invalid():
    assert ImageKeywordsTask().score("word1, word2", TWENTY)["valid"] == 0.0


def test_score_refuses_an_empty_reference():
    with pytest.raises(InvalidInputError, match="reference answer holds no keyword"):
        ImageKeywordsTask().score(TWENTY, " , ")


def test_combine_keeps_keywords_half_the_samples_give():
    task = ImageKeywordsTask()
    combined = task.combine([{"keywords": ["a", "b"]}, {"keywords": ["b", "c"]}, {"keywords": ["b", "a"]}])
    assert combined == {"keywords": ["a", "b"]}
    with pytest.raises(InvalidInputError):
        task.combine([])


def test_image_messages_carry_the_image_in_the_user_turn():
    image = Image(format="png", data=b"\x89PNG")
    messages = image_messages(image)
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[1].images == (image,) and messages[0].images == ()
