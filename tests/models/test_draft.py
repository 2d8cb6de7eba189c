"""Prompt-lookup drafts: what follows the latest earlier copy of the history's last n-gram. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stillhouse.models.draft import DraftStats, PromptLookup, lookup_draft


def test_the_longest_recurring_ngram_proposes_what_followed_it():
    history = [1, 2, 3, 9, 8, 7, 2, 3]
    assert lookup_draft(history, PromptLookup(ngram=2, tokens=3)) == [9, 8, 7]
    assert lookup_draft(history, PromptLookup(ngram=2, tokens=1)) == [9]


def test_the_latest_copy_wins_and_a_longer_ngram_beats_a_shorter_one():
    # "5 3" recurs at 0 and at 4; the latest copy (4) is followed by 6
    assert lookup_draft([5, 3, 1, 1, 5, 3, 6, 0, 5, 3], PromptLookup(ngram=2, tokens=1)) == [6]
    # the bigram "4 3" recurs (followed by 8); the unigram "3" alone recurs later (followed by 9)
    assert lookup_draft([4, 3, 8, 3, 9, 4, 3], PromptLookup(ngram=2, tokens=1)) == [8]
    assert lookup_draft([4, 3, 8, 3, 9, 4, 3], PromptLookup(ngram=1, tokens=1)) == [9]


def test_a_draft_may_run_into_the_end_of_the_history():
    assert lookup_draft([7, 7, 7], PromptLookup(ngram=2, tokens=5)) == [7]
    assert lookup_draft([1, 2, 1, 2], PromptLookup(ngram=2, tokens=5)) == [1, 2]


@pytest.mark.parametrize("history", [[], [4], [1, 2, 3, 4]])
def test_no_recurring_ngram_no_draft(history):
    assert lookup_draft(history, PromptLookup()) == []


@pytest.mark.parametrize("bad", [{"ngram": 0}, {"tokens": 0}, {"tokens": 65}, {"ngram": 2, "surprise": 1}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValidationError):
        PromptLookup.model_validate(bad)


def test_acceptance_is_accepted_over_drafted():
    assert DraftStats().acceptance == 0.0
    assert DraftStats(drafted=8, accepted=2, verifications=3).acceptance == 0.25
