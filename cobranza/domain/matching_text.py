"""How matching reads text: references and payer names normalised, remittance text tokenised."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TOKEN = re.compile(r"[A-Z0-9]+(?:[-_/.][A-Z0-9]+)*")
_RF = re.compile(r"\bRF\d{2}(?: ?[A-Z0-9]{1,4}){1,6}\b")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


def normalise_reference(text: str) -> str:
    """References compare upper-case, without spaces ("rf18 5390" is "RF185390")."""
    return "".join(text.split()).upper()


@lru_cache(maxsize=65_536)
def normalise_name(text: str) -> str:
    """Names compare by their letters and digits only: "Kij, S.A. de C.V." is "KIJSADECV"."""
    if not text.isascii():
        folded = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in folded if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("", text.upper())


def is_creditor_reference(text: str) -> bool:
    """ISO 11649 structured creditor reference: RF, two check digits, mod 97 of it is 1."""
    ref = normalise_reference(text)
    if not (5 <= len(ref) <= 25 and ref.startswith("RF") and ref[2:4].isdigit()):
        return False
    if not ref[4:].isalnum():
        return False
    digits = "".join(str(int(c, 36)) for c in ref[4:] + ref[:4])
    return int(digits) % 97 == 1


def remittance_tokens(text: str) -> list[str]:
    """Reference-like tokens of free text, on word boundaries ("INV-10" never hits "INV-100")."""
    if not text:
        return []
    upper = text.upper()
    tokens = _TOKEN.findall(upper)
    for printed in _RF.findall(upper) if "RF" in upper else ():
        # Printed in groups of four: take the longest run of groups whose check digits hold.
        groups = printed.split(" ")
        for end in range(len(groups), 0, -1):
            candidate = "".join(groups[:end])
            if is_creditor_reference(candidate):
                tokens.append(candidate)
                break
    return tokens
