"""When two submission names are one name on a board, and when a name hides what it holds:
look-alike letters (Unicode's confusable skeletons, a subset), words that mix scripts whose
letters pass for each other, characters that display as nothing."""

from __future__ import annotations

import re
import unicodedata

# Letters that display as nothing (Hangul fillers, the combining grapheme joiner): with the format
# characters (category Cf: zero-width space, joiners, soft hyphen, ...) they let a name look exactly
# like another one.
INVISIBLE_LETTERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")


def name_key(name: str) -> str:
    """Names that look the same are the same name on a board: compared after NFKC (full-width and
    ligature forms, composed accents), case folding, collapsing spaces (HTML shows a run of spaces
    as one) and mapping look-alike letters to one of them (`LOOKALIKES`: Cyrillic and Greek
    letters drawn like Latin ones, 0/o, 1/l/i, rn/m, dashes), as Unicode's confusable skeletons do."""
    folded = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    return folded.translate(LOOKALIKES).replace("rn", "m")


# Letters (after case folding) that display like a Latin letter or digit, mapped to it: a subset of
# Unicode's confusables (UTS #39) covering the scripts whose letters pass for Latin ones. Capitals
# fold to these small letters first, so the small form of a look-alike capital is here (Cyrillic
# "н" of "Н" for "h").
LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("аɑα", "a"),
        **dict.fromkeys("вβь", "b"),
        **dict.fromkeys("сϲ", "c"),
        "ԁ": "d",
        **dict.fromkeys("еєε", "e"),
        "ɡ": "g",
        **dict.fromkeys("нһհηћ", "h"),
        **dict.fromkeys("1iıіӏιɩ|ǀ", "l"),
        "ј": "j",
        **dict.fromkeys("кκ", "k"),
        **dict.fromkeys("мμ", "m"),
        **dict.fromkeys("ν", "n"),
        **dict.fromkeys("0оοօσ", "o"),
        **dict.fromkeys("рρ", "p"),
        "ԛ": "q",
        **dict.fromkeys("ѕ", "s"),
        **dict.fromkeys("тτ", "t"),
        **dict.fromkeys("սυ", "u"),
        "ѵ": "v",
        "ԝ": "w",
        **dict.fromkeys("хχ", "x"),
        **dict.fromkeys("уγү", "y"),
        "ζ": "z",
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe63\uff0d", "-"),
    }
)
# Scripts whose letters may share a word (Japanese mixes kanji and kana, Korean hangul and hanja,
# and any of them Latin): they have no letter that passes for a Latin one.
EAST_ASIAN = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"})


def letter_script(c: str) -> str | None:
    """The script of a letter, from its Unicode name ("LATIN", "CYRILLIC", ...); None for a
    character that is not a letter."""
    if unicodedata.category(c) not in ("Lu", "Ll", "Lt", "Lo"):  # modifier letters (Lm) belong to no word
        return None
    return unicodedata.name(c, "UNNAMED").split()[0]


def mixed_script_word(text: str) -> tuple[str, set[str]] | None:
    """The first word of `text` (after NFKC) whose letters come from two scripts that could pass
    for each other (Latin with Cyrillic or Greek, ...), with those scripts; None if there is none."""
    for word in re.split(r"[\s\-_/.,;:()\[\]]+", unicodedata.normalize("NFKC", text)):
        scripts = {s for s in map(letter_script, word) if s is not None} - EAST_ASIAN
        if len(scripts) > 1:
            return word, scripts
    return None


def invisible_char(text: str) -> str | None:
    """The first character of `text` that displays as nothing (a format character or a filler)."""
    return next((c for c in text if unicodedata.category(c) == "Cf" or c in INVISIBLE_LETTERS), None)
