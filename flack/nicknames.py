"""Nicknames: which characters they may hold, and when two are one person's.

A nickname is shown as it was typed, but two nicknames that a reader cannot
tell apart belong to one account: "Dave", "DAVE", "ｄａｖｅ" (fullwidth),
"dаve" (Cyrillic а) and "ⅾave" (Roman numeral ⅾ) all fold to one key. The
users table holds that key in a unique column, so the database refuses a
second account under any of them, and signing in looks the account up by the
key of what was typed.

The folding is Unicode's own, from ICU (the reference implementation of
Unicode's security mechanisms): NFKC with case folding (which also drops the
invisible "default ignorable" characters), then the confusable skeleton of
UTS #39, whose data is Unicode's confusables.txt. Upgrading ICU can change
keys: the version is pinned in requirements.txt, and a new version needs a
migration that folds the stored nicknames again.
"""

import icu

# In characters as typed; flack.schemas checks it.
LONGEST_NICKNAME = 32
# No character folds to more than 18 (U+FDFA, an Arabic ligature, does), so
# a key of a valid nickname fits a column this long.
LONGEST_EXPANSION = 18
LONGEST_KEY = LONGEST_NICKNAME * LONGEST_EXPANSION
# A skeleton can hold characters that case folding changes again (the
# skeleton of "0" is "O"); three rounds reach the fixed point for every
# character, so eight leave room for future Unicode data.
FOLDING_ROUNDS = 8

# Both are immutable once made, and ICU allows concurrent use of them.
_nfkc_casefold = icu.Normalizer2.getNFKCCasefoldInstance()
_spoof_checker = icu.SpoofChecker()

# Characters a nickname may not hold: they are invisible, reorder the text
# around them (the right-to-left override of "\u202egnp.exe"), or have no
# fixed look (private use, unassigned), so a reader could not tell what the
# nickname is. The same classes as the disallowed ones of PRECIS (RFC 8264).
_REFUSED_CATEGORIES = {
    icu.UCharCategory.CONTROL_CHAR,  # Cc: C0, DEL, C1
    icu.UCharCategory.FORMAT_CHAR,  # Cf: zero-width, bidi controls, soft hyphen, tags
    icu.UCharCategory.SURROGATE,  # Cs: half a character, which no database stores
    icu.UCharCategory.PRIVATE_USE_CHAR,  # Co
    icu.UCharCategory.UNASSIGNED,  # Cn, noncharacters included
    icu.UCharCategory.LINE_SEPARATOR,  # Zl
    icu.UCharCategory.PARAGRAPH_SEPARATOR,  # Zp
}


def fold_nickname(nickname):
    """The key under which ``nickname`` is unique: equal for nicknames that look alike.

    NFKC with case folding, then the UTS #39 skeleton, repeated until nothing
    changes, so that the key of a key is itself.
    """
    key = _nfkc_casefold.normalize(nickname)
    for _ in range(FOLDING_ROUNDS):
        folded = _nfkc_casefold.normalize(_spoof_checker.getSkeleton(0, key))
        if folded == key:
            break
        key = folded
    return key


def find_refused_character(text):
    """The first character of ``text`` that a nickname may not hold, or None.

    Invisible characters are refused, except variation selectors: they only
    choose how the character before them is drawn (the emoji style of ❤️),
    and folding drops them.
    """
    for character in text:
        if icu.Char.charType(character) in _REFUSED_CATEGORIES or (
            icu.Char.hasBinaryProperty(character, icu.UProperty.DEFAULT_IGNORABLE_CODE_POINT)
            and not icu.Char.hasBinaryProperty(character, icu.UProperty.VARIATION_SELECTOR)
        ):
            return character
    return None


def describe_character(character):
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: a character named so that a person can find it."""
    name = icu.Char.charName(character, icu.UCharNameChoice.EXTENDED_CHAR_NAME)
    return f'U+{ord(character):04X} {name}'
