"""The curated library the rewriter draws on: phrasings that own, validate, repair and give time.

Written for Heartfelt. Every entry is checked by the classifier before it is ever shown (see
``service.rewriter``); this module only holds text. Bracketed ``[…]`` parts are placeholders the
writer fills in: the rewriter never invents what happened or what the writer will do about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Placeholder hints. The analyzer reads any unfilled [...] as a prompt to the writer, not a flag.
ACT = "[say exactly what you did]"
ACT_NOUN = "[name exactly what you did]"
CHANGE = "[one concrete thing you will do]"

# Strategy names, in words a person understands.
NAME_IT = "name what you did"
OWN_ACT = "own what you did"
OWN_CHOICE = "own the choice"
DROP_IF = "drop the 'if'"
DROP_BUT = "drop the 'but'"
DROP_EXCUSE = "drop the excuse"
DROP_JUST = "drop the 'just'"
ABOUT_YOU = "keep it about you"
VALIDATE = "validate the feeling"
TIME = "give them time"
REPAIR = "offer repair"
LEAVE_OUT = "leave it out"


@dataclass(frozen=True)
class Phrase:
    text: str
    strategy: str
    aim: str  # the strength the phrasing is meant to carry
    patterns: tuple[str, ...]  # the flags it can stand in for; () = only offered as an addition
    situation: str = "any"


ANY_FLAG = ("vague", "non_apology", "excuse", "blame", "minimize", "pressure")
_OWNING = ("vague", "non_apology", "excuse", "blame")
_FEELING = ("non_apology", "minimize", "blame", "pressure")
_TIMING = ("pressure", "minimize")


def _many(strategy: str, aim: str, patterns: tuple[str, ...], *texts: str, situation: str = "any") -> list[Phrase]:
    return [Phrase(t, strategy, aim, patterns, situation) for t in texts]


# Situation-specific phrasings (validation, repair): chosen when the draft reads closest to them.
_SITUATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lying": (
        ("Of course it's hard to believe me right now; I gave you every reason not to.",
         "You have every right to be angry that I lied to you."),
        ("I'll answer any question you ask me, honestly, for as long as you need to ask.",),
    ),
    "money": (
        ("You have every right to be angry about the money.",
         "It makes sense that you feel betrayed over the money."),
        ("I'll pay it back, and you can see the account whenever you want.",),
    ),
    "infidelity": (
        ("Your hurt and your anger make complete sense; I broke your trust.",),
        ("I'll end all contact with them and answer anything you want to know.",),
    ),
    "harsh_words": (
        ("What I said was cruel, and it makes sense that it still stings.",),
        ("Next time I feel that angry, I'll walk away before I say anything.",),
    ),
    "broken_promise": (
        ("You counted on me, so of course you're disappointed.",),
        ("Next time I promise you something, I'll write it down and keep it.",),
    ),
    "privacy": (
        ("You have every right to feel exposed; that was yours to share, not mine.",),
        ("I won't look at your things again without asking you first.",),
    ),
    "forgotten_commitment": (
        ("It makes sense that you felt forgotten.",),
        ("I'll set reminders for what matters to you, starting with the next one.",),
    ),
    "friendship": (
        ("Of course you're hurt; you deserved a better friend than I was.",),
        ("I'd like to make it up to you, in whatever way feels right to you.",),
    ),
    "roommates": (
        ("It's fair that you're fed up; you shouldn't have to keep raising this.",),
        ("I'll stick to the rota from today, and you can call me out if I slip.",),
    ),
    "work": (
        ("Your frustration is fair; my part made your work harder.",),
        ("I'll fix my part and tell you before anything slips again.",),
    ),
    "family": (
        ("It makes sense that you felt let down, and by your own family.",),
        ("I'll call before plans change, every time, so you're never the last to know.",),
    ),
    "parenting": (
        ("You're right to be upset, and how you feel about this matters to me.",),
        ("I'll be there next time, and I'll tell you ahead if anything changes.",),
    ),
}  # fmt: skip

# Words that make a situation likely. A situation's own phrasings are offered only when the draft
# mentions one of them: similarity alone would happily bring up money in a message about a birthday.
SITUATION_WORDS: dict[str, re.Pattern[str]] = {
    sit: re.compile(rf"\b(?:{words})", re.IGNORECASE)
    for sit, words in {
        "lying": r"li(?:e|ed|es|ar|ying)\b|truth|honest|fib",
        "money": r"money|\$|£|€|cash|paid|pay|spent|spend|bank|loan|card|savings|account|debt|bills?\b|rent\b",
        "infidelity": r"cheat|kiss|slept|affair|\bex\b|flirt|dating app|tinder|hook(?:ed)? up|unfaithful",
        "harsh_words": r"called (?:you|u)|yell|shout|scream|insult|snapp|swore at|cruel|rude|harsh",
        "broken_promise": r"promis|my word\b|swore i|committed",
        "privacy": r"diary|journal|phone|messages|texts|password|secret|private|snoop|read your|went through",
        "forgotten_commitment": r"forg[oe]t|birthday|anniversary|missed|recital|pick(?:ed)? (?:you|u) up|reservation",
        "friendship": r"friend|mate\b|bro\b|dude|bestie",
        "roommates": r"roommate|flatmate|dishes|kitchen|bathroom|rota|chores|apartment|flat\b|landlord",
        "work": r"boss|team|meeting|client|project|deadline|office|colleague|manager|shift",
        "family": r"mum|mom|dad|sister|brother|family|parents|grandma|grandpa|aunt|uncle|cousin",
        "parenting": r"kids?\b|son\b|daughter|school|baby|children|sweetheart|sweetie",
    }.items()
}


def situations_of(text: str) -> set[str]:
    """The situations a draft plausibly belongs to ("any" always)."""
    return {"any"} | {sit for sit, words in SITUATION_WORDS.items() if words.search(text)}


PHRASES: tuple[Phrase, ...] = tuple(
    _many(NAME_IT, "ownership", _OWNING,
          f"I'm sorry that I {ACT}. It was wrong, and it's on me.",
          f"I'm sorry that I {ACT}, and it's on me.",
          f"I {ACT}, and that was wrong of me.",
          f"What I did was {ACT}, and I own it.",
          f"I'm sorry for {ACT_NOUN}; that was my doing.",
          f"I {ACT}, and I have no excuse for it.")
    + _many(ABOUT_YOU, "ownership", ("blame", "excuse"),
            "What I did is mine to answer for, whatever else was going on.",
            "Nobody made me do it; that choice was mine.",
            "I made that choice myself, and I own it.",
            "This is about what I did, not about you.")
    + _many(VALIDATE, "validation", _FEELING,
            "You have every right to feel the way you do.",
            "It makes sense that you're hurt.",
            "Your anger makes sense to me.",
            "What you're feeling is fair, and I won't argue with it.",
            "I can see how much this hurt you, and that matters to me.",
            "Of course you're upset; I would be too.",
            "It's fair that you don't trust me right now.",
            "I'm not going to tell you how to feel about this.")
    + _many(TIME, "patience", _TIMING,
            "Take all the time you need.",
            "You don't owe me an answer, tonight or any time soon.",
            "There's no deadline on this; I'll be here when you're ready to talk.",
            "Whenever you decide, and whatever you decide, I'll respect it.",
            "You get to set the pace here, not me.",
            "If you need space, you'll have it for as long as you want.")
    + _many(REPAIR, "repair", ("vague", "excuse", "pressure", "non_apology"),
            f"I'll {CHANGE}, so this doesn't happen again.",
            f"From now on I'll {CHANGE}.",
            f"I want to make this right, starting with {CHANGE}.")
    + [Phrase(t, VALIDATE, "validation", _FEELING, sit) for sit, (vals, _) in _SITUATIONS.items() for t in vals]
    + [Phrase(t, REPAIR, "repair", (), sit) for sit, (_, reps) in _SITUATIONS.items() for t in reps]
)  # fmt: skip


@dataclass(frozen=True)
class Swap:
    """A stock phrase of one pattern and what can say the same thing without the flag."""

    pattern: str
    trigger: re.Pattern[str]
    replacement: str
    strategy: str
    aim: str


_YOU = r"(?:you|u|ya)"
_YOURE = r"(?:you'?re|you are|ur|u r|youre)"


def _swap(pattern: str, trigger: str, replacement: str, strategy: str, aim: str) -> Swap:
    return Swap(pattern, re.compile(trigger, re.IGNORECASE), replacement, strategy, aim)


# Stock phrases whose fix does not depend on grammar: a lookup, not a parser.
SWAPS: tuple[Swap, ...] = (
    _swap("excuse", r"\bi (?:had|have) no (?:other )?choice\b", "I had a choice, and I made the wrong one",
          OWN_CHOICE, "ownership"),
    _swap("excuse", r"\bit (?:just )?happened\b", "I let it happen", OWN_CHOICE, "ownership"),
    _swap("excuse", r"\bi (?:couldn'?t|could not|can'?t) help it\b", "I could have stopped myself, and I didn't",
          OWN_CHOICE, "ownership"),
    _swap("blame", r"\b(?:he|she|they|you|u) started it\b", "I chose how I reacted, and that part is mine",
          OWN_CHOICE, "ownership"),
    _swap("minimize", rf"\b{_YOURE} (?:so |being |totally |way )?(?:overreacting|being dramatic|dramatic|"
          r"too sensitive)\b", "Your reaction makes sense", VALIDATE, "validation"),
    _swap("minimize", r"\b(?:calm down|chill(?: out)?|relax|lighten up)\b", "I understand why you're upset",
          VALIDATE, "validation"),
    _swap("minimize", r"\bit was (?:only|just) a joke\b", "It was a joke that hurt you, and I'm sorry I made it",
          VALIDATE, "validation"),
    _swap("minimize", r"\b(?:it'?s|it is|it was|that'?s) (?:not|no) (?:a |such a )?big deal\b",
          "It was a big deal to you, and that matters", VALIDATE, "validation"),
    _swap("minimize", r"\bit (?:meant|means) nothing\b", "I know it meant something to you", VALIDATE, "validation"),
    _swap("pressure", r"\b(?:can we|can't we|let'?s|we need to|we should) (?:just )?(?:move on|move past (?:it|this)|"
          r"forget (?:it|about it|this)|put (?:it|this) behind us)\b",
          "We can talk about this for as long as you need", TIME, "patience"),
    _swap("pressure", rf"\b{_YOU} should (?:be over it|have gotten over it|move on)\b",
          "You don't have to be over it", TIME, "patience"),
    _swap("pressure", r"\bwhat (?:else|more) do (?:you|u) want(?: from me)?\b",
          "Tell me what you need from me, whenever you're ready", TIME, "patience"),
    _swap("pressure", r"\b(?:just |please )?forgive me\b", "You don't have to forgive me", TIME, "patience"),
)  # fmt: skip


# Words that shrink what happened ("it was just a joke", "one tiny lie lol").
MINIMIZERS = re.compile(
    r"\s*\b(?:just|only|merely|simply|literally|lol|lmao|haha|tbh|honestly|tiny|little|one little|a little|"
    r"a bit|kinda|kind of|sort of)\b",
    re.IGNORECASE,
)

# Codas that own a named act ("I lied about Friday" + ", and that was wrong").
OWN_CODAS: tuple[str, ...] = (
    ", and that was wrong",
    ", and that's on me",
    ", and there's no excuse for it",
)
