"""What a voice command names: the room, and what to say or ask there. Pure Python, tested without OVOS."""
from typing import Iterable, Optional, Tuple

_ARTICLES = ("the ", "my ")


def split_room(request: str, rooms: Iterable[str]) -> Optional[Tuple[str, str]]:
    """("kitchen dinner is ready", ["kitchen", "hall"]) -> ("kitchen", "dinner is ready").

    The longest room name that starts the request wins ("living room" before "living"); a leading "the" is
    skipped; case does not matter. None when no room of the house starts the request, or nothing follows it.
    """
    text = " ".join(request.strip().split())
    lowered = text.lower()
    for article in _ARTICLES:
        if lowered.startswith(article):
            text, lowered = text[len(article):], lowered[len(article):]
            break
    for room in sorted(set(rooms), key=len, reverse=True):
        name = " ".join(room.lower().split())
        if lowered == name or not lowered.startswith(name + " "):
            continue
        rest = text[len(name):].strip()
        for joiner in ("that ", "to "):
            if rest.lower().startswith(joiner):
                rest = rest[len(joiner):]
                break
        return (room, rest) if rest else None
    return None


def spoken_list(names: Iterable[str]) -> str:
    """["hall", "kitchen", "den"] -> "hall, kitchen and den"."""
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
