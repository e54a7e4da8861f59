"""Container names: Docker-style random "adjective_surname" names and the name syntax check.

Like moby's ``namesgenerator``: a name is an adjective and the surname of a notable
scientist or engineer; "boring_wozniak" is never produced (Steve Wozniak is not boring);
when a name is taken a retry appends a random digit, and after six attempts the caller's
fallback (Docker uses the short container id) is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from sbx.errors import Conflict, InvalidArgument

__all__ = ["ADJECTIVES", "SURNAMES", "random_name", "validate_name", "NAME_RE"]

ADJECTIVES: tuple[str, ...] = (
    "admiring", "adoring", "agile", "amazing", "amused", "ardent", "awesome", "blissful",
    "bold", "boring", "brave", "bright", "busy", "calm", "candid", "charming", "cheerful",
    "clever", "cool", "cosmic", "crazy", "curious", "dazzling", "determined", "diligent",
    "dreamy", "eager", "earnest", "ecstatic", "elastic", "elated", "elegant", "eloquent",
    "epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly",
    "frosty", "funny", "gallant", "generous", "gentle", "gifted", "goofy", "gracious",
    "great", "happy", "hardcore", "heuristic", "hopeful", "humble", "hungry", "infallible",
    "inspiring", "intelligent", "jolly", "jovial", "keen", "kind", "laughing", "lively",
    "loving", "lucid", "magical", "modest", "musing", "mystifying", "nervous", "nice",
    "nifty", "nimble", "nostalgic", "objective", "optimistic", "patient", "peaceful",
    "pensive", "playful", "practical", "priceless", "quirky", "quizzical", "radiant",
    "relaxed", "reverent", "romantic", "serene", "sharp", "silly", "sleepy", "spirited",
    "stoic", "sunny", "tender", "thirsty", "tidy", "trusting", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous",
    "zen",
)

SURNAMES: tuple[str, ...] = (
    "agnesi", "alhazen", "allen", "ampere", "archimedes", "aryabhata", "babbage", "backus",
    "banach", "bardeen", "bartik", "bell", "bernoulli", "bhabha", "blackburn", "bohr",
    "boltzmann", "boole", "borg", "bose", "brahmagupta", "brattain", "burnell", "carson",
    "cartwright", "cerf", "chandrasekhar", "chebyshev", "clarke", "cohen", "conway",
    "cori", "curie", "darwin", "davinci", "dijkstra", "dirac", "driscoll", "einstein",
    "elion", "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman",
    "franklin", "gagarin", "galileo", "galois", "gates", "gauss", "germain", "goldberg",
    "goldwasser", "goodall", "gould", "hamilton", "hawking", "heisenberg", "hertz",
    "hilbert", "hodgkin", "hofstadter", "hopper", "hoover", "hypatia", "jackson", "jang",
    "jemison", "jennings", "johnson", "joliot", "kalam", "kapitsa", "keller", "kepler",
    "khorana", "kilby", "kirch", "knuth", "kowalevski", "lalande", "lamarr", "lamport",
    "leakey", "leavitt", "lederberg", "lehmann", "lewin", "liskov", "lovelace", "lumiere",
    "mahavira", "margulis", "maxwell", "mayer", "mccarthy", "mcclintock", "meitner",
    "mendel", "mendeleev", "merkle", "mirzakhani", "moore", "morse", "napier", "nash",
    "neumann", "newton", "nightingale", "nobel", "noether", "noyce", "ochoa", "pare",
    "pascal", "pasteur", "payne", "perlman", "pike", "planck", "poincare", "ptolemy",
    "raman", "ramanujan", "ride", "ritchie", "rosalind", "rubin", "saha", "sammet",
    "shamir", "shannon", "shaw", "shockley", "sinoussi", "snyder", "spence", "stallman",
    "stonebraker", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira",
    "villani", "volta", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak",
    "wright", "wu", "yalow", "yonath", "zhukovsky",
)

_FORBIDDEN = "boring_wozniak"
_ATTEMPTS = 6

NAME_RE = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def random_name(taken: Callable[[str], bool] | Collection[str] = frozenset(), *,
                rng: object | None = None, fallback: str | None = None) -> str:
    """Return a free random name such as "focused_turing".

    ``taken`` is a set of names in use or a predicate.  The first attempt is a bare
    name, later ones append one random digit (as moby does); after six taken names the
    ``fallback`` is returned, or ``Conflict`` is raised when there is none.  ``rng`` is
    any object with ``randrange`` (a ``random.Random``), for reproducible tests.
    """
    is_taken: Callable[[str], bool] = taken if callable(taken) else taken.__contains__
    if rng is None:
        import random

        rng = random.SystemRandom()
    randrange: Callable[[int], int] = rng.randrange  # type: ignore[attr-defined]
    for attempt in range(_ATTEMPTS):
        while True:
            name = f"{ADJECTIVES[randrange(len(ADJECTIVES))]}_{SURNAMES[randrange(len(SURNAMES))]}"
            if name != _FORBIDDEN:
                break
        if attempt > 0:
            name += str(randrange(10))
        if not is_taken(name):
            return name
    if fallback is not None:
        return fallback
    raise Conflict("could not find a free random container name after 6 attempts",
                   hint="pass --name to choose one")


def validate_name(name: str) -> str:
    """Check a container name against Docker's rule and return it without a leading "/".

    The first character a letter or digit, then letters, digits, ``_``, ``.`` and ``-``.
    One character is enough (as podman allows; Docker asks for two, which rejects names
    such as ``r`` that people do type).
    """
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            hint="use letters, digits, '_', '.' and '-', starting with a letter or digit")
    return name[1:] if name.startswith("/") else name
