"""Ids for the restaurants and menu items an export names: one per name, stable, never empty.

An id is the name's slug (``Garlic Naan`` → ``garlic-naan``), letters of any script kept. Names
that differ but slug alike (``Naan (Plain)``, ``Naan Plain``, ``naan-plain``) are different items:
the first to claim the slug keeps it, the others get it with a short hash of their exact name.
A name seen before keeps the id it was given, so ids never move between imports. Merging names
into one id happens only when asked for, with a mapping file, and is reported.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable


def slugify(text: str) -> str:
    """Lower-case words of any script joined by ``-`` (NFKC-normalised; punctuation dropped)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", "-", folded).strip("-")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def stable_ids(
    names: Iterable[str],
    known: dict[str, str],
    *,
    prefix: str,
    asked: dict[str, str] | None = None,
) -> dict[str, str]:
    """An id for each name.

    Args:
        known: name -> id already registered (they keep their ids).
        prefix: what an id starts with when the name has no letters or digits at all.
        asked: name -> id from a mapping file (merges the user asked for).
    """
    asked = asked or {}
    out: dict[str, str] = {}
    taken = set(known.values()) | set(asked.values())
    for name in sorted(set(names)):
        if name in asked:
            out[name] = asked[name]
        elif name in known:
            out[name] = known[name]
        else:
            slug = slugify(name)
            candidate = slug or f"{prefix}-{_digest(name)}"
            if candidate in taken:
                candidate = f"{slug or prefix}-{_digest(name)}"
            taken.add(candidate)
            out[name] = candidate
    return out


def merges(ids: dict[str, str]) -> dict[str, list[str]]:
    """Ids given to more than one name (only a mapping file does that), with their names."""
    names: dict[str, list[str]] = {}
    for name, id_ in ids.items():
        names.setdefault(id_, []).append(name)
    return {id_: sorted(ns) for id_, ns in names.items() if len(ns) > 1}
