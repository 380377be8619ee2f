"""What a password must not be: short, one of the most common, trivial, or the account itself.

The rule NIST SP 800-63B gives: a minimum length, no composition rules (they make passwords
like "Password1!"), and a check against passwords known to be common or breached, repeats and
sequences, and words of the context (here the e-mail address and the person's name). The
common ones are a list shipped with the code (`data/common_passwords.txt`, whose header says
where it comes from): no network call, the same answer on every machine, and a refusal a
person can understand ("one of the most commonly used passwords"), which a strength score
would not give.

One rule for every way a password is set: `lowrise user add` / `password`, an invitation,
and /account/password all call `problem()` through `lowrise.accounts`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from pathlib import Path

from lowrise.i18n import Msg, msg

MIN_LENGTH = 8
#: argon2 hashes any length; this only keeps a pasted book from costing a hash of it
MAX_LENGTH = 256
LIST = Path(__file__).resolve().parent / "data" / "common_passwords.txt"

# rows of the keyboard, to refuse walks along them ("qwertyui", "asdfghjk", "zxcvbnm,")
_ROWS = ("1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./")
#: digits and symbols at either end, which do not make a common word any harder to guess
_ENDS = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@lru_cache(maxsize=1)
def common() -> frozenset[str]:
    """The refused common passwords, lower case."""
    with LIST.open(encoding="utf-8") as f:
        return frozenset(line.rstrip("\n") for line in f if line.strip() and line[0] != "#")


def _norm(text: str) -> str:
    # full-width letters and digits typed with a Chinese input method count as the same
    return unicodedata.normalize("NFKC", text or "").casefold()


def _repeats(p: str) -> bool:
    """A block of at most four characters said again and again ("aaaaaaaa", "abcabcab")."""
    return any(len(p) >= 2 * n and p == (p[:n] * (len(p) // n + 1))[:len(p)]
               for n in range(1, 5))


def _sequence(p: str) -> bool:
    """Every character one step from the last: "12345678", "abcdefgh", "87654321", or a walk
    along a row of the keyboard either way."""
    steps = {ord(b) - ord(a) for a, b in zip(p, p[1:], strict=False)}
    if steps <= {1} or steps <= {-1}:
        return True
    return any(p in row or p in row[::-1] for row in _ROWS)


def _a_date(p: str) -> bool:
    """A date, as birthdays are written: 19861010, 1986-10-10, 10.10.1986."""
    digits = re.sub(r"[-./ ]", "", p)
    if not digits.isdigit() or len(digits) != 8:
        return False
    for y, m, d in ((digits[:4], digits[4:6], digits[6:]), (digits[4:], digits[2:4], digits[:2]),
                    (digits[4:], digits[:2], digits[2:4])):
        try:
            if 1900 <= int(y) <= 2099:
                date(int(y), int(m), int(d))
                return True
        except ValueError:
            continue
    return False


def _compact(text: str) -> str:
    return "".join(ch for ch in _norm(text) if ch.isalnum())


def problem(password: str, *, email: str = "", name: str = "") -> Msg | None:
    """Why this password is refused (a message to show), or None when it may be used."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return msg("a password needs at least %(n)s characters", n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return msg("a password can have at most %(n)s characters", n=MAX_LENGTH)
    p = _norm(password)
    if _repeats(p) or _sequence(p):
        return msg("this password is a repeat or a run of characters, which is guessed at "
                   "once; choose one that is harder to guess")
    if _a_date(p):
        return msg("this password is a date, which is guessed quickly; choose one that is "
                   "harder to guess")
    words = common()
    core = _ENDS.sub("", p)
    if p in words or (len(core) >= 4 and core in words):
        return msg("this is one of the most commonly used passwords (digits or symbols added "
                   "at the ends do not change that); choose one that is harder to guess")
    compact = _compact(password)
    local = (email or "").split("@")[0]
    # the whole name and address, and each word of them ("lovelace" of Ada Lovelace)
    parts = [local, name or "", *re.split(r"[\W_]+", f"{local} {name or ''}")]
    who = {w for w in map(_compact, parts) if len(w) >= 4}
    if any(w in compact for w in who):
        return msg("a password must not contain your e-mail address or your name")
    return None
