"""Text for the dataset: spellings of the wake word, near-miss phrases, and a sentence
generator for long-form negative speech (no download: word lists and templates live here).
"""

import re

# Known near misses: phonetically close phrases that must not fire.
NEAR_MISSES = {
    "alexa": ["Alexander", "Alexis", "election", "Alaska", "Lexus", "a lexicon", "Alex",
              "Alexandra", "a Lexus", "electric", "Alessa", "Alexei", "Excel", "Annexa",
              "Melissa", "Alex, sir", "alexia", "Elektra", "a lexer", "Alec's car"],
    "hey jarvis": ["hey Travis", "Jarvis Cocker", "hey service", "harvest", "hey Marvin",
                   "hey Davis", "hey Charles", "Jervis Bay", "a harvest moon", "hey nervous",
                   "hey Garvey", "hey Jarrod", "hey jar of peas", "they carve this",
                   "hey Mavis", "hey Harvey", "heavy service", "hey Jack"],
}

# Extra spellings of the phrase (the TTS reads them differently: stress, intonation).
_PUNCT = ["{w}", "{w}.", "{w}!", "{w}?", "{w},", "{W}", "{W}."]

WORDS = {
    "name": "Tom Anna Peter Maria David Sophie Ben Laura Oscar Emma Lucas Nina Omar Julia "
           "Ravi Chen Fatima Ivan Grace Leo Hannah Mark Zoe Sam Kate Daniel Olga Paul Rita".split(),
    "noun": "kitchen window garden coffee table weather morning evening music light door "
            "letter phone computer dinner bread water river mountain city train station "
            "ticket book pencil paper market doctor teacher bicycle car street house room "
            "bottle kettle garage office meeting report picture camera movie song radio "
            "breakfast lunch apple orange banana tomato potato chicken soup salad cheese "
            "blanket pillow sofa carpet lamp clock calendar holiday summer winter autumn spring "
            "battery charger cable keyboard printer screen story question answer problem idea "
            "number minute hour week month year country village island forest beach bridge "
            "shop library school hospital airport museum concert game team player ball".split(),
    "verb": "bring open close find take make see call watch read write cook clean fix buy "
            "sell carry move start stop finish need want like love miss check play turn "
            "build paint wash fold count order send share keep lose pick".split(),
    "verb_past": "brought opened closed found took made saw called watched read wrote "
                 "cooked cleaned fixed bought sold carried moved started stopped finished "
                 "needed wanted liked loved missed checked played turned built painted".split(),
    "adj": "big small old new warm cold quiet loud bright dark early late happy tired busy "
           "empty full green blue red yellow heavy light soft hard clean dirty strange "
           "simple difficult cheap expensive famous funny careful lucky".split(),
    "adv": "quickly slowly carefully today tomorrow yesterday tonight later again always "
           "never sometimes usually often already almost really quite".split(),
    "place": "at home, in the kitchen, at the station, in the garden, at work, downstairs, "
             "upstairs, in the car, at school, near the river, in town, on the bus".split(", "),
    "num": "one two three four five six seven eight nine ten twelve fifteen twenty thirty "
           "forty fifty a hundred".split(),
}

_TEMPLATES = [
    "{name} {verb_past} the {adj} {noun} {place}.",
    "Could you {verb} the {noun} {adv}?",
    "I think the {noun} is too {adj} for the {noun}.",
    "We {verb_past} {num} {noun}s {adv}.",
    "Did {name} {verb} the {noun} {place}?",
    "Please don't {verb} my {adj} {noun}.",
    "The {noun} was {adj}, so {name} {verb_past} it {adv}.",
    "It takes {num} minutes to get to the {noun} from here.",
    "{name} and {name} want to {verb} a {adj} {noun}.",
    "Remember to {verb} the {noun} before {name} comes back.",
    "Turn the {noun} off, it is getting {adj}.",
    "There are {num} {adj} {noun}s {place}.",
    "Why is the {noun} so {adj} {adv}?",
    "My {noun} {verb_past} the {noun} again.",
    "Let's {verb} the {noun} and then {verb} the {noun}.",
    "What time does the {noun} open on {day}?",
    "I'll call {name} on {day} about the {noun}.",
    "Set a timer for {num} minutes.",
    "How far is the {noun} from the {noun}?",
    "{name}, where did you put the {adj} {noun}?",
]
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_ONSETS = "b bl br ch d dr f fl g gr h j k kl l m n p pl pr r s sh sk st t tr v w z".split()
_NUCLEI = "a e i o u ai ee oo ou ay ie".split()
_CODAS = ["", "", "n", "m", "s", "t", "k", "l", "r", "nd", "st", "ng"]


def slug(word):
    return re.sub(r"[^a-z0-9]+", "_", word.lower()).strip("_")


def spellings(word):
    w = word.strip().lower()
    return [p.format(w=w, W=w.title()) for p in _PUNCT]


def near_misses(word):
    """Near-miss phrases for `word`; for a custom word, a few generic ones made from its parts."""
    key = word.strip().lower()
    if key in NEAR_MISSES:
        return list(NEAR_MISSES[key])
    parts = key.split()
    out = []
    if len(parts) > 1:
        out += parts  # each word alone
        out += ["%s %s" % (p, parts[-1]) for p in ("hi", "say", "they", "pay") if p != parts[0]]
        out += ["%s %s" % (parts[0], w) for w in ("there", "service", "Harvey", "Marvin")]
    else:
        w = parts[0] if parts else key
        out += ["a " + w[1:] if len(w) > 3 else w + "s", w + "ander", w[:-1] + "is",
                "the " + w + "s", w[: max(2, len(w) // 2)], "e" + w[1:]]
    return [p for p in out if p.lower() != key]


def _forbidden(word):
    """Substrings that must not appear in negative text for `word` (word and near misses)."""
    toks = set()
    for p in [word] + near_misses(word):
        for t in re.findall(r"[a-z]+", p.lower()):
            if len(t) >= 4:
                toks.add(t[:4])
    key = re.sub(r"[^a-z]", "", word.lower())
    toks.update(key[i: i + 4] for i in range(max(1, len(key) - 3)))
    return toks


def pseudo_word(rng):
    n = int(rng.integers(1, 4))
    return "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS) for _ in range(n))


def sentence(rng):
    if rng.random() < 0.15:  # nonsense words widen the phonetic coverage beyond the lexicon
        return " ".join(pseudo_word(rng) for _ in range(int(rng.integers(3, 9)))).capitalize() + "."
    t = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    out = []
    for m in re.split(r"(\{[a-z_]+\})", t):
        if m.startswith("{"):
            key = m[1:-1]
            pool = _DAYS if key == "day" else WORDS[key]
            out.append(pool[int(rng.integers(len(pool)))])
        else:
            out.append(m)
    s = "".join(out)
    return s[0].upper() + s[1:]


def paragraph(rng, word, n_sentences):
    """`n_sentences` sentences that contain neither the wake word nor its near misses."""
    bad = _forbidden(word)
    out = []
    while len(out) < n_sentences:
        s = sentence(rng)
        low = re.sub(r"[^a-z]", "", s.lower())
        if not any(b in low for b in bad):
            out.append(s)
    return " ".join(out)


# Carrier phrases around a positive or near miss, spoken by the same voice: the word inside a
# request, as people say it. Short fixed lists, so neural syntheses repeat (and are cached).
CARRIER_BEFORE = ["Okay,", "So,", "Well,", "Um,", "Oh,", "Right,"]
CARRIER_AFTER = ["what's the weather like?", "turn on the lights.", "play some music.",
                 "set a timer.", "stop.", "what time is it?"]
