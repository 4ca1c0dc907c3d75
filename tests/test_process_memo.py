from __future__ import annotations

import pytest

from generator.process_memo import ProcessMemo


def test_a_result_is_made_once_per_key() -> None:
    memo: ProcessMemo[list[int]] = ProcessMemo(4)
    made = []

    def make(n: int) -> list[int]:
        made.append(n)
        return [n]

    assert [memo.get(n % 2, lambda n=n: make(n)) for n in range(4)] == [[0], [1], [0], [1]]
    assert made == [0, 1]


def test_once_full_everything_is_forgotten_and_made_again() -> None:
    memo: ProcessMemo[str] = ProcessMemo(2)
    made = []

    def make(key: str) -> str:
        made.append(key)
        return key

    for key in ("a", "b", "a", "c", "a"):
        assert memo.get(key, lambda key=key: make(key)) == key
    assert made == ["a", "b", "c", "a"]  # "c" found it full: "a" was forgotten with "b"


def test_a_failure_is_not_kept() -> None:
    memo: ProcessMemo[int] = ProcessMemo(2)
    calls = []

    def fail() -> int:
        calls.append(1)
        raise ValueError("bad input")

    for _ in range(2):
        with pytest.raises(ValueError, match="bad input"):
            memo.get("k", fail)
    assert len(calls) == 2


def test_a_none_result_is_kept_like_any_other() -> None:
    memo: ProcessMemo[None] = ProcessMemo(2)
    calls = []
    for _ in range(2):
        assert memo.get("k", lambda: calls.append(1)) is None
    assert calls == [1]


def test_with_copies_no_caller_gets_the_result_kept() -> None:
    memo: ProcessMemo[dict[str, list[int]]] = ProcessMemo(2, copies=True)
    first = memo.get("k", lambda: {"a": [1]})
    first["a"].append(2)
    again = memo.get("k", lambda: {"a": [0]})
    assert again == {"a": [1]}
    again["a"].clear()
    assert memo.get("k", lambda: {"a": [0]}) == {"a": [1]}
