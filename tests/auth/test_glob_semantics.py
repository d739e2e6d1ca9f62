"""Policy wildcards mean what IAM documents, whatever expression matches them.

``glob`` and ``_arn_glob`` build expressions that never backtrack into a star (session 10);
these tests hold them to a plain dynamic-programming matcher of the documented semantics:
``*`` is any run of characters (none too), ``?`` exactly one character, and within the first
five ``:`` parts of an ARN neither crosses a ``:`` (ArnLike checks each part on its own; the
resource part may hold colons).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from incident_contacts.auth.conditions import NO_FACTS, _arn_glob, expand_glob, glob


def reference(pattern: str, text: str, *, arn: bool = False, ignore_case: bool = False) -> bool:
    """Whether ``text`` matches ``pattern``, by the documented rules, in O(len^2)."""
    kinds: list[tuple[str, str, bool]] = []  # (kind, character, within an ARN part)
    colons = 0
    for c in pattern:
        kinds.append(("*" if c == "*" else "?" if c == "?" else "=", c, arn and colons < 5))
        colons += c == ":"

    def same(a: str, b: str) -> bool:
        return a == b or (ignore_case and a.lower() == b.lower())

    # can[j]: the pattern's first i items match text[:j].
    can = [True] + [False] * len(text)
    for kind, c, within in kinds:
        nxt = [False] * (len(text) + 1)
        for j in range(len(text) + 1):
            if kind == "*":
                nxt[j] = can[j] or (j > 0 and nxt[j - 1] and not (within and text[j - 1] == ":"))
            elif j > 0 and can[j - 1]:
                t = text[j - 1]
                nxt[j] = (not (within and t == ":")) if kind == "?" else same(c, t)
        can = nxt
    return can[len(text)]


TEXT = st.text(alphabet=st.sampled_from([*"ab:/", "é", "\n"]), max_size=12)
PATTERN = st.text(alphabet=st.sampled_from([*"ab:*?", "é", "A", "\n"]), max_size=9)
SETTINGS = settings(max_examples=3000, deadline=None, database=None)


@SETTINGS
@given(PATTERN, TEXT, st.booleans())
def test_glob_matches_as_documented(pattern: str, text: str, ignore_case: bool) -> None:
    found = glob(pattern, ignore_case).fullmatch(text) is not None
    assert found == reference(pattern, text, ignore_case=ignore_case)


ARN_PART = st.text(alphabet=st.sampled_from(list("ab*?")), max_size=3)


@SETTINGS
@given(st.lists(ARN_PART, min_size=6, max_size=8).map(":".join),
       st.one_of(st.lists(st.text(alphabet=st.sampled_from(list("ab")), max_size=3),
                          min_size=6, max_size=8).map(":".join), TEXT))
def test_arn_like_checks_each_part_on_its_own(pattern: str, text: str) -> None:
    found = _arn_glob(pattern).fullmatch(text) is not None
    assert found == reference(pattern, text, arn=True)


def test_tricky_patterns() -> None:
    def like(pattern: str, text: str) -> bool:
        return glob(pattern).fullmatch(text) is not None

    assert like("", "") and not like("", "a")
    assert like("***", "") and like("***", "a\nb")
    assert not like("?*", "") and like("?*", "a") and not like("*?", "") and like("*?", "ab")
    assert like("a?", "ab") and not like("a?", "a") and not like("a?", "abc")
    assert like("?", "é") and not like("?", "e\u0301")  # one character, not one glyph
    assert not like("A*", "abc")  # StringLike is case-sensitive
    assert like("*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 60 + "b")
    # A policy variable's value is matched literally, wildcards and all.
    filled = expand_glob("user/${*}${?}*", NO_FACTS)
    assert filled is not None
    assert filled.fullmatch("user/*?x") is not None
    assert filled.fullmatch("user/ab") is None
