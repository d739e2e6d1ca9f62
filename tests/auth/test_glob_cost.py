"""Wildcard patterns of policies never backtrack (session 10 cost audit).

A contact policy (up to 395,000 characters, written by the contact's owner and evaluated on
every call another account makes on the contact) could hold ``*a*a*a...*b``: as a regular
expression with a plain ``.*`` per star, matching it against a contact ARN with a long alias
takes time growing as the alias length to the number of stars (minutes for 13 stars and 40
characters). Each star but the last now takes its piece at the first place (an atomic
group), which matches exactly when any place does.
"""

from __future__ import annotations

import random

import pytest

from incident_contacts.auth.conditions import NO_FACTS, expand_glob, glob

ARN = "arn:aws:ssm-contacts:us-east-1:111122223333:contact/"


@pytest.mark.parametrize("arn", [False, True])
def test_no_star_but_the_last_can_backtrack(arn: bool) -> None:
    pattern = ARN.replace("us-east-1", "*") + "*a" * 40 + "*b"
    compiled = expand_glob(pattern, NO_FACTS, arn=arn) if arn else glob(pattern)
    assert compiled is not None
    stars = pattern.count("*")
    # Every star before the last sits in an atomic group, which the engine never re-enters.
    assert compiled.pattern.count("(?>") == stars - 1
    assert compiled.fullmatch(ARN + "a" * 255) is None
    assert compiled.fullmatch(ARN + "a" * 40 + "b") is not None
    assert compiled.fullmatch(ARN + "a" * 39 + "b") is None


def _naive(pattern: str, text: str) -> bool:
    """Wildcard matching by dynamic programming: the meaning the expressions must keep."""
    can = [True] + [False] * len(text)
    for p in pattern:
        if p == "*":
            for i in range(1, len(text) + 1):
                can[i] = can[i] or can[i - 1]
        else:
            can = [False] + [can[i] and (p == "?" or p == text[i]) for i in range(len(text))]
    return can[len(text)]


def test_globs_match_as_wildcards_do() -> None:
    draw = random.Random(10)
    for _ in range(3000):
        pattern = "".join(draw.choice("ab*?*") for _ in range(draw.randint(0, 9)))
        text = "".join(draw.choice("aab") for _ in range(draw.randint(0, 10)))
        assert (glob(pattern).fullmatch(text) is not None) == _naive(pattern, text), (
            pattern, text)
