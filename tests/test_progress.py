"""The one progress bar's pass-through helper."""

from __future__ import annotations

from stillhouse.progress import track


def test_track_passes_every_item_through_in_order():
    assert list(track(iter(["a", "b", "c"]), "items", 3, disable=True)) == ["a", "b", "c"]
    assert list(track([], "nothing", 0, disable=True)) == []


def test_track_is_lazy_like_the_generator_it_wraps():
    pulled: list[int] = []

    def numbers():
        for i in range(3):
            pulled.append(i)
            yield i

    tracked = track(numbers(), "numbers", None, disable=True)
    assert next(tracked) == 0 and pulled == [0]
