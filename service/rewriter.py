"""The rewrite engine: candidate rewrites of each flagged unit, verified by the classifier, ranked.

Generate, then verify. Candidates come from the writer's own sentence (drop the justifying clause,
turn "you made me" into "I chose to", "sorry if you were hurt" into "sorry that I hurt you", …) and
from the curated phrasebook (``service.phrasebook``). Every candidate is read by the fine-tuned
classifier as it would be shown; one that carries any flag is never shown. The rest
are ranked by the classifier's score for the strength the strategy aims at, by embedding similarity
to what the writer wrote (same encoder) and by how many of the writer's own words it keeps.

Message text is never logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from lemminflect import getAllLemmas, getInflection

from service import phrasebook as pb
from service.analyzer import PLACEHOLDER, Analyzer, Classifier, Scored, check_text, classify, close_flags
from service.labels import FLAG_LABELS, LABEL2ID
from service.schemas import Addition, Analysis, Edit, Placeholder, RewriteResult, Suggestion
from service.segmenter import Unit, contexts, segment

MAX_SUGGESTIONS = 3
PHRASES_PER_UNIT = 6  # phrasebook entries tried per flagged unit, picked by similarity
FIX_ROUNDS = 5  # re-analyses of a whole rewrite before a still-flagged edit falls back
DROP_RANK = 0.6  # a dropped sentence loses the writer's words: only when nothing better verifies
LIBRARY_CACHE_SIZE = 20_000  # bounded by the phrasebook's sentences times their register variants
FIT_BONUS = 0.3  # a strategy that answers the pattern directly ("give them time" for pressure) goes first
CLAUSE_DROP_RANK = 1.2  # but a "but I was tired" after a rewritten clause is best simply dropped
_N_FLAGS = len(FLAG_LABELS)
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")

# ---------------------------------------------------------------------------------------------
# Pure text transformations (no model)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A candidate rewrite of one flagged unit, before verification."""

    text: str
    strategy: str
    aim: str  # the strength it means to carry
    pattern: str  # the flag it answers
    library: bool = False  # the team's text (a phrasebook or stock sentence), not the writer's sentence transformed


# Where a sentence breaks into clauses: punctuation, and the conjunctions that carry reasons or blame.
_CLAUSE_BREAK = re.compile(
    r"\s*[,;:—–]\s*|\s+-\s+|\s+(?=(?:because|cause|cuz|bc|since|so|but|when|while|although|though|"
    r"and now|and then|and now|which|unless|until|if)\b)",
    re.IGNORECASE,
)
_CONNECTOR = re.compile(
    r"^(because|cause|cuz|bc|since|so|but|when|while|although|though|and now|and then|which|unless|until|if)\b",
    re.IGNORECASE,
)
_JUSTIFYING = {"because", "cause", "cuz", "bc", "since", "so", "but", "when", "while", "although", "though",
               "and now", "and then", "which", "unless", "until", "if"}  # fmt: skip
_MAY_NAME_ACT = {"so", "but", "when"}  # "sorry you felt hurt when I opened the envelope"
_LEAD_FILLER = re.compile(
    r"^(?:(?:and|so|but|yeah|yes|ok|okay|look|well|honestly|true|fine|listen|i mean|i know|i admit|i guess|"
    r"i'?m sorry(?: that)?|i am sorry(?: that)?|im sorry(?: that)?|sorry(?: that)?|i'?m so sorry(?: that)?)"
    r"\s*,?\s+)+",
    re.IGNORECASE,
)
_OTHERS = re.compile(r"^(?:you|u|ur|your|you're|youre|he|she|they|his|her|their|it|that|this)\b", re.IGNORECASE)
_ADVERBS = {"just", "really", "never", "also", "totally", "completely", "actually", "still", "even",
            "literally", "basically", "deliberately", "secretly", "then", "already", "went", "ahead",
            "and"}  # fmt: skip
# Verbs that state a feeling, a reason or an intention rather than an act.
_NOT_ACTS = {"be", "feel", "think", "need", "want", "mean", "try", "have", "know", "guess", "hope", "believe",
             "figure", "assume", "wish", "seem", "realise", "realize", "notice", "plan", "intend", "expect",
             "can", "could", "would", "should", "must", "will", "shall", "may", "might", "panic", "freak",
             "understand", "remember", "suppose", "get", "do", "apologize", "apologise", "say"}  # fmt: skip
_NEGATED = re.compile(r"^(?:didn'?t|did not|never|didnt)$", re.IGNORECASE)
_PERFECT = re.compile(r"^(?:'ve|have|had|'d|ve)$", re.IGNORECASE)
_TRAILING_PUNCT = re.compile(r"[\s.!?,;:…—–-]+$")
_FINAL_PUNCT = re.compile(r"[.!?,;:…—–-]+$")


@lru_cache(maxsize=4096)
def _verb_lemma(word: str) -> str | None:
    lemmas = getAllLemmas(word.lower(), upos="VERB").get("VERB")
    return lemmas[0] if lemmas else None


def _has_form(word: str, tag: str) -> str | None:
    """The verb's lemma when ``word`` is its ``tag`` form (VBD past, VBN participle, VB base)."""
    lemma = _verb_lemma(word)
    if lemma and word.lower() in getInflection(lemma, tag):
        return lemma
    return None


def _past(lemma: str) -> str:
    forms = getInflection(lemma, "VBD")
    return forms[0] if forms else lemma


def is_texting(text: str) -> bool:
    """All-lowercase writing is texting: the rewrite keeps that register."""
    return not any(ch.isupper() for ch in text)


def line_of(text: str, unit: Unit) -> str:
    """The line a unit stands on: its register is the line's, not the clause's ("but you…" is lowercase)."""
    start = text.rfind("\n", 0, unit.start) + 1
    end = text.find("\n", unit.end)
    return text[start : end if end >= 0 else len(text)]


def split_clauses(text: str) -> list[tuple[str, str]]:
    """(connector, clause) pairs: the connector is the conjunction that opens the clause, or ''."""
    out = []
    for piece in _CLAUSE_BREAK.split(text):
        piece = piece.strip()
        if not piece or not _WORD.search(piece):
            continue
        m = _CONNECTOR.match(piece)
        out.append((m.group(1).lower() if m else "", piece))
    return out


def _strip_filler(clause: str) -> str:
    return _LEAD_FILLER.sub("", clause).strip()


def act_clause(clause: str) -> str | None:
    """The clause with its lead-in removed when it names something the writer did ("I read your diary")."""
    core = _strip_filler(clause)
    words = core.split()
    if len(words) < 2 or words[0].lower() not in {"i", "i've", "ive", "i'd", "id"}:
        return None
    rest = [w.strip(".,!?;:\"'()") for w in words[1:]]
    if words[0].lower() in {"i've", "ive", "i'd", "id"}:
        rest = ["have", *rest]
    i = 0
    while i < len(rest) - 1 and rest[i].lower() in _ADVERBS:
        i += 1
    head = rest[i]
    if _NEGATED.match(head) and i + 1 < len(rest):
        lemma = _has_form(rest[i + 1], "VB")
    elif _PERFECT.match(head) and i + 1 < len(rest):
        lemma = _has_form(rest[i + 1], "VBN")
    else:
        lemma = _has_form(head, "VBD")
    if lemma is None or lemma in _NOT_ACTS:
        return None
    return core


def strip_minimizers(text: str) -> str:
    out = pb.MINIMIZERS.sub("", text)
    return re.sub(r"\s{2,}", " ", out).strip()


def _acts(text: str) -> list[str]:
    """Every clause of ``text`` that names the writer's own act, minimizers removed."""
    found = []
    for connector, clause in split_clauses(text):
        if connector in _JUSTIFYING and connector not in _MAY_NAME_ACT:
            continue  # "because I was tired" explains, it does not name the act
        body = _CONNECTOR.sub("", clause).strip() if connector in _MAY_NAME_ACT else clause
        act = act_clause(strip_minimizers(body))  # "i kinda ruined the trip" names an act
        if act:
            found.append(_TRAILING_PUNCT.sub("", strip_minimizers(act)))
    return found


def own_act(text: str, pattern: str) -> list[Draft]:
    """Keep the act the writer named and own it: "I lied about Friday, and that was wrong"."""
    acts = _acts(text)
    if not acts:
        return []
    act = acts[0]
    drafts = [Draft(f"{act}{coda}.", pb.OWN_ACT, "ownership", pattern) for coda in pb.OWN_CODAS]
    drafts.append(Draft(f"I'm sorry {act}.", pb.OWN_ACT, "ownership", pattern))
    if len(acts) > 1:
        drafts.append(Draft(f"{act}, and {acts[1]}, and that was wrong.", pb.OWN_ACT, "ownership", pattern))
    return drafts


def drop_clauses(text: str, pattern: str) -> list[Draft]:
    """Keep the clauses that speak for the writer; drop the reasons and the finger-pointing."""
    clauses = split_clauses(text)
    kept = [c for conn, c in clauses if conn not in _JUSTIFYING and not _OTHERS.match(_strip_filler(c))]
    if not kept or len(kept) == len(clauses):
        return []
    dropped = {conn for conn, _ in clauses} - {""}
    strategy = pb.DROP_BUT if "but" in dropped else pb.ABOUT_YOU if pattern == "blame" else pb.DROP_EXCUSE
    body = strip_minimizers(", ".join(kept)) if pattern == "minimize" else ", ".join(kept)
    return [Draft(f"{body}.", strategy, "ownership", pattern)] if _WORD.search(body) else []


# Whoever the subject ("you", "my mother"), the flagged sentence says someone else made the choice.
_MADE_ME = re.compile(
    r"\b(?:kept\s+|keeps\s+)?(made|make|makes|forced|force|forcing|pushed|push|pushing|drove|drive|driving|got|get)"
    r"\s+me\s+(?:to\s+|into\s+)?([a-z']+)([^,;.!?]*)",
    re.IGNORECASE,
)
_WOULDNT_HAVE = re.compile(
    r"\bi\s*(?:would\s*n[o']?t|wouldnt|would never|'d never|d never)\s+(?:have|of|'ve)\s+([a-z']+)([^,;.!?]*)",
    re.IGNORECASE,
)


def own_choice(text: str, pattern: str) -> list[Draft]:
    """'you made me yell' -> 'I chose to yell'; 'if you hadn't …, I wouldn't have missed it' -> 'I missed it'."""
    drafts = []
    m = _MADE_ME.search(text)
    if m:
        word, rest = m.group(2), strip_minimizers(m.group(3))
        rest = f" {rest}" if rest else ""
        lemma = _has_form(word, "VB") or (_has_form(word, "VBG") if word.lower().endswith("ing") else None)
        if lemma is None and word.lower() in {"it", "this", "that"}:
            lemma, rest = "do", f" {word}{rest}"
        if lemma and lemma not in {"feel", "be"}:
            chose = "choose" if m.group(1).lower() in {"make", "makes", "force", "push", "drive", "get"} else "chose"
            drafts.append(Draft(f"I {chose} to {lemma}{rest}, and that's on me.", pb.OWN_CHOICE, "ownership", pattern))
            drafts.append(Draft(f"Nobody made me {lemma}{rest}; I chose to.", pb.OWN_CHOICE, "ownership", pattern))
    m = _WOULDNT_HAVE.search(text)
    if m:
        lemma = _has_form(m.group(1), "VBN")
        if lemma:
            rest = strip_minimizers(m.group(2))
            act = f"I {_past(lemma)} {rest}".rstrip()
            drafts.append(Draft(f"{act}, and that was my choice.", pb.OWN_CHOICE, "ownership", pattern))
            drafts.append(Draft(f"{act}, and that's on me.", pb.OWN_CHOICE, "ownership", pattern))
    return drafts


_SORRY_IF = re.compile(r"\b(sorry|apologi[sz]e|regret)\s+(?:if|that)\s+(.+)$", re.IGNORECASE)
_IF_SORRY = re.compile(
    r"^\s*(?:if|should)\s+(.+?),?\s+(?:then\s+)?(?:i'?m\s+|i am\s+)?(?:so\s+)?(sorry|i apologi[sz]e)", re.IGNORECASE
)
_YOU_WERE = re.compile(
    r"\b(?:you|u)\s*(?:were|was|are|'re|re|r|got|get|felt|feel|have been|'ve been|ve been)\s+"
    r"(?:so\s+|really\s+|very\s+)?([a-z]+)(\s+(?:down|out|up|off|to))?\b",
    re.IGNORECASE,
)
_BY_MINE = re.compile(r"\s+by\s+((?:my|what i|the way i|how i)\b[^,;.!?]*?)(?=\s+and\b|[,;.!?]|$)", re.IGNORECASE)
_THING_HURT = re.compile(
    r"\b(that|it|this|my [a-z]+(?: [a-z]+)?|what i (?:said|did)|anything i (?:said|did))\s+"
    r"(hurt|upset|offended|bothered|embarrassed|annoyed|scared|worried)\s+(?:you|u)\b",
    re.IGNORECASE,
)


def own_condition(text: str, pattern: str) -> list[Draft]:
    """'sorry if you were hurt' -> 'I'm sorry that I hurt you'; 'sorry if I was short' -> 'sorry that I was short'."""
    drafts = []
    m = _YOU_WERE.search(text)
    particle = ((m.group(2) or "") if m else "").strip().lower()
    lemma = _has_form(m.group(1), "VBN") if m else None
    if lemma and lemma not in _NOT_ACTS and (lemma != "leave" or particle == "out"):  # "left out", not "left"
        obj = (
            f"you {particle}" if particle in {"down", "out", "up", "off"} else f"{particle} you" if particle else "you"
        )
        act = f"I {_past(lemma)} {obj}".replace("  ", " ")
        drafts += [Draft(f"I'm sorry that {act}.", pb.DROP_IF, "ownership", pattern),
                   Draft(f"{act}, and I'm sorry.", pb.DROP_IF, "ownership", pattern)]  # fmt: skip
    by = _BY_MINE.match(text, m.end()) if m else None
    if by and lemma:
        drafts.append(Draft(f"I'm sorry that {by.group(1)} {_past(lemma)} you.", pb.DROP_IF, "ownership", pattern))
    m = _THING_HURT.search(text)
    if m:
        subject = m.group(1)
        verb = m.group(2).lower()
        who = "I" if subject.lower() in {"that", "it", "this"} else subject
        drafts.append(Draft(f"I'm sorry that {who} {verb} you.", pb.DROP_IF, "ownership", pattern))
    clause = _SORRY_IF.search(text) or _IF_SORRY.search(text)
    if clause:
        cond = clause.group(2) if clause.re is _SORRY_IF else clause.group(1)
        cond = _TRAILING_PUNCT.sub("", cond.split(",")[0])
        if re.match(r"(?:i|i'?ve|my|anything i|something i|what i)\b", cond, re.IGNORECASE):
            drafts.append(Draft(f"I'm sorry that {cond}.", pb.DROP_IF, "ownership", pattern))
    return drafts


_FEELINGS = ("upset", "hurt", "angry", "mad", "disappointed", "frustrated", "embarrassed", "let down", "left out",
             "betrayed", "annoyed", "jealous", "scared", "worried", "sad", "furious", "humiliated", "uncomfortable",
             "offended", "confused", "fed up", "crushed", "lied to", "forgotten", "ignored", "used", "disrespected",
             "excluded", "hurting", "pissed", "blindsided", "exposed")  # fmt: skip
_FEELING = re.compile(
    r"\b(?:you|u|ur|you'?re|youre)\s*(?:'re|re|are|r|were|was|feel|felt|seem|seemed|got|get|being|"
    r"are still|'re still|still)?\s*(?:so |really |very |this |that |still |a bit |a little |kind of |kinda |this )?"
    rf"({'|'.join(re.escape(f) for f in _FEELINGS)})\b",
    re.IGNORECASE,
)


def validate_feeling(text: str, pattern: str) -> list[Draft]:
    """Name the feeling the draft argued with, and say it is fair: 'You have every right to be upset.'"""
    m = _FEELING.search(text)
    if not m:
        return []
    feeling = m.group(1).lower()  # one of the team's _FEELINGS: the sentence holds none of the writer's words
    return [Draft(f"You have every right to be {feeling}.", pb.VALIDATE, "validation", pattern, True),
            Draft(f"It makes sense that you're {feeling}.", pb.VALIDATE, "validation", pattern, True)]  # fmt: skip


# Phrases that stand where the act should be named ("sorry for everything", "how I behaved").
_VAGUE_OBJECT = re.compile(
    r"\b(?:everything(?: i did)?|all of it|all that|all this|it all|the whole thing|this whole \w+|"
    r"what happened|whatever (?:i did|happened)|what i did|the stuff i (?:said|did)|"
    r"my (?:actions|behaviou?r|mistakes?|part|conduct)|how i(?:'ve| have)? (?:been|acted|behaved|treated you)"
    r"(?: lately)?|the way i (?:acted|behaved|treated you)|a lot of (?:things|stuff))\b",
    re.IGNORECASE,
)
_VAGUE_WHEN = re.compile(r"\b(for|about)\s+(last night|earlier|the other day|yesterday|today|this morning)\b",
                         re.IGNORECASE)  # fmt: skip
_VAGUE_ADMISSION = re.compile(
    r"\b(?:i|i've|ive)\s+(?:really\s+|totally\s+)?(?:messed up|screwed up|fucked up|fell short|let you down|let u down|"
    r"crossed a line|was wrong|made (?:a )?mistakes?|was a jerk|was an idiot|hurt you|hurt u|blew it|dropped the ball)",
    re.IGNORECASE,
)


def name_it(text: str, pattern: str) -> list[Draft]:
    """Keep the writer's own admission and make room for the act it leaves out, as a placeholder."""
    drafts = []
    m = _VAGUE_OBJECT.search(text)
    if m:  # the act goes where the vague phrase stood; the rest of the sentence stays the writer's
        in_place = f"{text[: m.start()]}{pb.ACT_NOUN}{text[m.end() :]}"
        head = _TRAILING_PUNCT.sub("", text[: m.start()] + pb.ACT_NOUN)
        drafts += [Draft(f"{_TRAILING_PUNCT.sub('', in_place)}.", pb.NAME_IT, "ownership", pattern),
                   Draft(f"{head}.", pb.NAME_IT, "ownership", pattern)]  # fmt: skip
    m = _VAGUE_WHEN.search(text)
    if m:  # "sorry for last night" keeps the night and asks for the act
        head = text[: m.start()] + f"{m.group(1)} {pb.ACT_NOUN} {m.group(2)}"
        drafts.append(Draft(f"{head}.", pb.NAME_IT, "ownership", pattern))
    m = _VAGUE_ADMISSION.search(text)
    if m:
        drafts.append(Draft(f"{m.group(0)} when I {pb.ACT}.", pb.NAME_IT, "ownership", pattern))
    return drafts


def swaps(text: str, pattern: str) -> list[Draft]:
    """Stock phrases with a stock fix ("you're overreacting" -> "Your reaction makes sense"): the team's text."""
    return [Draft(f"{s.replacement}.", s.strategy, s.aim, pattern, True)
            for s in pb.SWAPS if s.pattern == pattern and s.trigger.search(text)]  # fmt: skip


def team_sentences() -> set[str]:
    """Every sentence the rewriter can offer that holds none of the writer's words, before register
    fitting: the phrasebook, the stock swaps and the named-feeling validations. Only these are cached
    by text (:meth:`Rewriter._verify`)."""
    feelings = {d.text for f in _FEELINGS for d in validate_feeling(f"you're {f}", "")}
    return {p.text for p in pb.PHRASES} | {f"{s.replacement}." for s in pb.SWAPS} | feelings


_TRANSFORMS = {
    "vague": (name_it, own_act),
    "non_apology": (own_condition, validate_feeling, own_act, name_it),
    "excuse": (own_act, drop_clauses, own_choice, swaps),
    "blame": (own_choice, own_act, drop_clauses, swaps),
    "minimize": (swaps, validate_feeling, own_act, drop_clauses),
    "pressure": (swaps, validate_feeling, drop_clauses),
}


def transform(text: str, patterns: Sequence[str]) -> list[Draft]:
    """Candidate rewrites of one flagged unit made from its own words, for each of its patterns."""
    seen: set[str] = set()
    out = []
    for pattern in patterns:
        for fn in _TRANSFORMS[pattern]:
            for draft in fn(text, pattern):
                key = draft.text.lower()
                if key not in seen and key != text.strip().lower():
                    seen.add(key)
                    out.append(draft)
    return out


def fit(candidate: str, original: str, *, texting: bool | None = None, before_clause: bool = False) -> str:
    """Give a candidate the original's register: lowercase texting, final punctuation, capital letter."""
    core = _TRAILING_PUNCT.sub("", candidate.strip())
    if not core:
        return ""
    texting = is_texting(original) if texting is None else texting
    core = core.lower() if texting else core[0].upper() + core[1:]
    end_match = _FINAL_PUNCT.search(original.rstrip())
    end = end_match.group()[-1] if end_match else ""
    if end in {"!", "?", "…"}:
        end = "."  # the rewrite keeps calm: no raised voice, no rhetorical question
    if end in {",", ";", ":", "—", "–", "-"} and not before_clause:
        end = "" if texting else "."
    return core + end


# Words too common to count as the writer's specifics when ranking.
_COMMON = {"you're", "youre", "your", "yours", "that", "this", "with", "have", "been", "were", "what", "when",
           "just", "they", "them", "their", "i'm", "it's", "that's", "there", "here", "then", "than", "from",
           "about", "would", "could", "should", "will", "really", "know", "sorry", "because", "didn't", "don't",
           "can't", "it'll", "i've", "i'd", "i'll", "we're", "some", "very", "much", "like", "even",
           "only"}  # fmt: skip


def content_words(text: str) -> set[str]:
    """The words (4+ letters, not the commonest) that carry what a sentence is about."""
    return {w for w in (w.lower() for w in _WORD.findall(text)) if len(w) >= 4 and w not in _COMMON}


# ---------------------------------------------------------------------------------------------
# Candidates in place: where an option goes in the message, and how it is verified
# ---------------------------------------------------------------------------------------------


@dataclass
class Option:
    """One way to fix one flagged unit: replace original[start:end] with ``replacement``."""

    unit: int
    start: int
    end: int
    replacement: str
    display: str  # the text a person reads as the suggestion (the sentence as it would stand)
    strategy: str
    aim: str
    pattern: str
    kept: float = 0.0  # share of the unit's content words it keeps
    keeps_act: bool = False  # it keeps the act the flagged sentence named (most of its words)
    ok: bool = True  # verified: no flag anywhere in it
    rank: float = 0.0
    rows: list[int] = field(default_factory=list)  # rows of the verification batch
    library: bool = False  # the team's text: verified on its own, once per process (see Rewriter._verify)


def _continues(text: str, units: list[Unit], i: int) -> bool:
    """Unit i continues the sentence of unit i-1 (a 'but' clause or after a semicolon)."""
    if i == 0:
        return False
    gap = text[units[i - 1].end : units[i].start]
    return "\n" not in gap and not re.search(r"[.!?…]$", units[i - 1].text)


def _cut_before(text: str, units: list[Unit], i: int) -> int:
    """Where a continuation clause's edit starts: just after the last word of the clause before it."""
    end = units[i - 1].end
    while end > units[i - 1].start and text[end - 1] in ",;:—–- ":
        end -= 1
    return end


def place(text: str, units: list[Unit], i: int, draft: Draft, flagged: set[int]) -> Option | None:
    """Where and how a draft replaces unit i, in the register and punctuation of the text around it."""
    unit = units[i]
    texting = is_texting(line_of(text, unit))
    nxt_continues = i + 1 < len(units) and _continues(text, units, i + 1)
    sentence = fit(draft.text, unit.text, texting=texting, before_clause=nxt_continues and i + 1 not in flagged)
    if not sentence:
        return None
    if nxt_continues and i + 1 in flagged and not texting and not _FINAL_PUNCT.search(sentence):
        sentence += "."  # the rewritten clause after it will start a sentence of its own
    kept = _kept(unit.text, sentence)
    act_words = content_words(" ".join(_acts(unit.text)))
    keeps_act = bool(act_words) and len(act_words & content_words(sentence)) * 2 >= len(act_words)
    fields = (draft.strategy, draft.aim, draft.pattern, kept, keeps_act)
    if _continues(text, units, i):
        # A rewritten 'but' clause becomes a sentence of its own after the clause before it.
        if i - 1 in flagged:
            start, sep = units[i - 1].end, ", " if texting else " "
        else:
            start, sep = _cut_before(text, units, i), ", " if texting else ". "
        return Option(i, start, unit.end, sep + sentence, sentence, *fields, library=draft.library)
    return Option(i, unit.start, unit.end, sentence, sentence, *fields, library=draft.library)


def _kept(original: str, new: str) -> float:
    words = content_words(original)
    return len(words & content_words(new)) / len(words) if words else 0.0


def drop_options(text: str, units: list[Unit], i: int, pattern: str, flagged: set[int]) -> list[Option]:
    """Leave a flagged clause or sentence out: 'sorry I lied, but you ignored me' -> 'sorry I lied'."""
    unit = units[i]
    if _continues(text, units, i):
        if i - 1 in flagged:  # the clause before it is rewritten too and can stand alone
            rank = CLAUSE_DROP_RANK if pattern in {"excuse", "blame"} else DROP_RANK
            return [Option(i, units[i - 1].end, unit.end, "", "", pb.DROP_BUT, "", pattern, rank=rank)]
        cut = _cut_before(text, units, i)
        end_match = _FINAL_PUNCT.search(unit.text)
        end = end_match.group() if end_match and end_match.group()[-1] in ".!?" else ""
        end = "." if end and not is_texting(line_of(text, unit)) else end
        prev = units[i - 1]
        shown = text[prev.start : cut] + end
        return [Option(i, prev.start, unit.end, shown, shown, pb.DROP_BUT, "ownership", pattern)]
    if len(flagged) == len(units) or (i + 1 < len(units) and _continues(text, units, i + 1)):
        return []  # never leave out every sentence, nor a sentence whose 'but' clause stays
    end = units[i + 1].start if i + 1 < len(units) else len(text)
    return [Option(i, unit.start, end, "", "", pb.LEAVE_OUT, "", pattern, rank=DROP_RANK)]


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """The options for each flagged unit of one message, ranked, and which one is in use."""

    text: str
    scored: Scored
    options: dict[int, list[Option]]
    choice: dict[int, int] = field(default_factory=dict)


class Rewriter:
    """Suggestions for each flag and a revised draft, every shown sentence verified by the classifier."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        texts = [p.text for p in pb.PHRASES]
        # The phrasebook is read once per loaded model: its embeddings pick entries close to a draft.
        _, decided, vectors = classify(self.classifier, texts, [""] * len(texts))
        if vectors is None:
            raise TypeError("the rewriter needs a classifier whose predict() returns embeddings")
        self._phrase_vectors = vectors
        # The team's sentences (phrasebook, stock swaps, named feelings) as the register fitting shaped
        # them, read once: display -> model outputs. A finite set, and none of it the writer's words.
        self._library: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._phrase_clean = [not decided[k, :_N_FLAGS].any() for k in range(len(pb.PHRASES))]
        self._phrase_ok = [  # offered as an addition only when it reads as the strength it is meant to add
            clean and bool(decided[k, LABEL2ID[p.aim]])
            for k, (p, clean) in enumerate(zip(pb.PHRASES, self._phrase_clean, strict=True))
        ]

    @property
    def classifier(self) -> Classifier:
        """The analyzer's model: swapping it (the server's micro-batcher) swaps the rewriter's too."""
        return self.analyzer.classifier

    # -- the analyzer's suggestion hook -------------------------------------------------------

    def fill_suggestions(self, texts: Sequence[str], scored: list[Scored], analyses: list[Analysis]) -> None:
        """Give every flag 1-3 verified suggestions (the analyzer calls this)."""
        plans = [self._plan(t, s) for t, s in zip(texts, scored, strict=True)]
        self._verify(plans)
        for plan, analysis in zip(plans, analyses, strict=True):
            by_start = {u.start: i for i, u in enumerate(plan.scored.units)}
            for flag in analysis.flags:
                i = by_start.get(flag.start)
                if i is not None:
                    flag.suggestions = self._suggestions(plan, i, flag.pattern)

    def _suggestions(self, plan: _Plan, i: int, pattern: str) -> list[Suggestion]:
        shown: list[Suggestion] = []
        for opt in plan.options.get(i, []):
            if opt.ok and opt.display and opt.strategy not in {s.strategy for s in shown}:
                shown.append(Suggestion(text=opt.display, strategy=opt.strategy))
            if len(shown) == MAX_SUGGESTIONS:
                return shown
        if not shown:  # nothing verified in place: phrasebook entries the classifier passed on their own
            unit_text = plan.scored.units[i].text
            texting = is_texting(line_of(plan.text, plan.scored.units[i]))
            for k in self._nearest_phrases(plan.scored, i, [pattern], pb.situations_of(plan.text)):
                if self._phrase_clean[k] and len(shown) < MAX_SUGGESTIONS:
                    p = pb.PHRASES[k]
                    if p.strategy not in {s.strategy for s in shown}:
                        shown.append(Suggestion(text=fit(p.text, unit_text, texting=texting), strategy=p.strategy))
        return shown

    # -- whole-message rewrites ---------------------------------------------------------------

    def rewrite(self, text: str) -> RewriteResult:
        return self.rewrite_many([text])[0]

    def rewrite_many(self, texts: Sequence[str]) -> list[RewriteResult]:
        """Rewrite several messages; candidates of all of them are verified in one batched call."""
        checked = [check_text(t, self.analyzer.max_length) for t in texts]
        scored, closing = self.analyzer.score_pending(checked)
        plans = [self._plan(t, s) for t, s in zip(checked, scored, strict=True)]
        self._verify(plans)  # while the topic gate reads the flagged messages
        for k in close_flags(scored, closing.result()):
            plans[k].options = {}  # turned away: nothing to rewrite
        for plan in plans:
            plan.choice = {i: 0 for i, opts in plan.options.items() if opts}
        rewrites = [self._assemble(p) for p in plans]
        analyses = self.analyzer.analyze_many([r for r, _ in rewrites], suggestions=False)
        for _ in range(FIX_ROUNDS):
            retry = [
                k
                for k, a in enumerate(analyses)
                if a.flags and self._advance(plans[k], rewrites[k][1], a, rewrites[k][0])
            ]
            if not retry:
                break
            for k in retry:
                rewrites[k] = self._assemble(plans[k])
            for k, a in zip(retry, self.analyzer.analyze_many([rewrites[k][0] for k in retry], suggestions=False),
                            strict=True):  # fmt: skip
                analyses[k] = a
        still = [k for k, a in enumerate(analyses) if a.flags]
        if still:  # what could not be fixed still gets suggestions, like any analysis
            texts_left = [rewrites[k][0] for k in still]
            self.fill_suggestions(texts_left, self.analyzer.score(texts_left), [analyses[k] for k in still])
        return [self._result(p, r, a) for p, r, a in zip(plans, rewrites, analyses, strict=True)]

    def _plan(self, text: str, scored: Scored) -> _Plan:
        units = scored.units
        flagged = {i for i in range(len(units)) if scored.decided[i, :_N_FLAGS].any()}
        options: dict[int, list[Option]] = {}
        situations = pb.situations_of(text)
        for i in sorted(flagged):
            row = scored.proba[i, :_N_FLAGS] * scored.decided[i, :_N_FLAGS]
            patterns = [FLAG_LABELS[j] for j in np.argsort(-row) if row[j] > 0]
            drafts = transform(units[i].text, patterns)
            drafts += self._phrase_drafts(scored, i, patterns, situations)
            opts = [o for d in drafts if (o := place(text, units, i, d, flagged)) is not None]
            opts += drop_options(text, units, i, patterns[0], flagged)
            options[i] = _dedupe(opts)
        return _Plan(text, scored, options)

    def _nearest_phrases(self, scored: Scored, i: int, patterns: Sequence[str], situations: set[str]) -> list[int]:
        fits = [k for k, p in enumerate(pb.PHRASES) if set(p.patterns) & set(patterns) and p.situation in situations]
        if scored.vectors is None:
            return fits
        sims = self._phrase_vectors[fits] @ scored.vectors[i]
        return [fits[j] for j in np.argsort(-sims)]

    def _phrase_drafts(self, scored: Scored, i: int, patterns: list[str], situations: set[str]) -> list[Draft]:
        """The phrasebook entries closest to the unit, the best of each strategy first."""
        ranked = self._nearest_phrases(scored, i, patterns, situations)
        picked: list[int] = []
        for k in ranked:  # one per strategy, so at least two strategies always reach verification
            if pb.PHRASES[k].strategy not in {pb.PHRASES[j].strategy for j in picked}:
                picked.append(k)
        picked += [k for k in ranked if k not in picked][: max(0, PHRASES_PER_UNIT - len(picked))]
        primary = patterns[0]
        return [Draft(pb.PHRASES[k].text, pb.PHRASES[k].strategy, pb.PHRASES[k].aim, primary, True) for k in picked]

    def _verify(self, plans: list[_Plan]) -> None:
        """Read every option as it would be shown, all of them in one batched classifier call, and rank them.

        An option is read on its own, not between the writer's sentences: shorter, so about a third
        cheaper, and the same reading whatever the writer types next (the pair cache keeps it). Read in
        place instead, the rewrites of the test split came out as clean and 0.3 points fewer shown
        suggestions read as flagged once put back (``training/EXPERIMENTS.md``, session 9); the whole
        rewrite is analyzed again anyway (:meth:`rewrite_many`).
        """
        batch_units: list[str] = []
        batch_ctx: list[str] = []
        library_rows: dict[str, list[int]] = {}
        for plan in plans:
            for opts in plan.options.values():
                for opt in opts:
                    if opt.library and (opt.display in self._library or opt.display in library_rows):
                        continue  # read once per process: the team's text, never the writer's
                    pieces = _segments(opt.display)
                    if not pieces:
                        continue
                    rows = list(range(len(batch_units), len(batch_units) + len(pieces)))
                    if opt.library:
                        library_rows[opt.display] = rows
                    else:
                        opt.rows = rows
                    batch_units += list(pieces)
                    batch_ctx += contexts([Unit(0, 0, p) for p in pieces], self.classifier.context_words)
        fresh: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if batch_units:
            proba, decided, vectors = classify(self.classifier, batch_units, batch_ctx)
            fresh = {d: (proba[rows], decided[rows], vectors[rows]) for d, rows in library_rows.items()}
            for display, outputs in fresh.items():
                if len(self._library) < LIBRARY_CACHE_SIZE:
                    self._library[display] = outputs
        for plan in plans:
            for opts in plan.options.values():
                for opt in opts:
                    target = _original_vector(plan.scored, opt)
                    if opt.library:
                        outputs = self._library.get(opt.display) or fresh.get(opt.display)
                    else:
                        outputs = (proba[opt.rows], decided[opt.rows], vectors[opt.rows]) if opt.rows else None
                    if outputs is not None:
                        o_proba, o_decided, o_vectors = outputs
                        opt.ok = not o_decided[:, :_N_FLAGS].any()
                        aim = float(o_proba[:, LABEL2ID[opt.aim]].max()) if opt.aim else 0.0
                        vec = o_vectors.mean(axis=0)
                        sim = float(vec @ target / (np.linalg.norm(vec) or 1.0)) if target is not None else 0.0
                        fits = opt.strategy in _ANSWERS[opt.pattern]
                        opt.rank = aim + sim + 0.5 * opt.kept + FIT_BONUS * fits
                # The writer's specifics first: a verified option that keeps the named act beats one that does not.
                opts.sort(key=lambda o: (not o.ok, not o.keeps_act, -o.rank))

    def _assemble(self, plan: _Plan) -> tuple[str, list[tuple[Option, int, int]]]:
        """Apply the chosen option of each flagged unit; returns the rewrite and where each edit landed."""
        chosen = [plan.options[i][c] for i, c in sorted(plan.choice.items())]
        used: set[str] = set()
        picked: list[Option] = []
        for opt in chosen:  # the same sentence twice reads as a template: take the unit's next option instead
            if _said(opt) in used:
                opt = next((o for o in plan.options[opt.unit] if o.ok and _said(o) not in used), opt)
            if opt.replacement.strip():
                used.add(_said(opt))
            picked.append(opt)
        out, placed, cursor = [], [], 0
        for opt in sorted(picked, key=lambda o: o.start):
            if opt.start < cursor:
                continue  # overlaps the edit before it (a dropped clause next to a rewritten one)
            out.append(plan.text[cursor : opt.start])
            new_start = sum(len(s) for s in out)
            out.append(opt.replacement)
            placed.append((opt, new_start, new_start + len(opt.replacement)))
            cursor = opt.end
        out.append(plan.text[cursor:])
        rewrite = "".join(out)
        return (rewrite.rstrip() if cursor == len(plan.text) else rewrite), placed

    def _advance(self, plan: _Plan, placed: list[tuple[Option, int, int]], analysis: Analysis, rewrite: str) -> bool:
        """Move each edit that reads as flagged, or that flags an untouched neighbour, to its next option."""
        moved = False
        for opt, start, end in placed:
            inside = any(f.start < end and f.end > start for f in analysis.flags)
            # An untouched sentence right next to an edit is read with the edit as its context.
            beside = any(
                not re.search(r"\w", rewrite[end : f.start] if f.start >= end else rewrite[f.end : start])
                for f in analysis.flags
                if not (f.start < end and f.end > start)
            )
            if inside or beside:
                opt.ok = False
                nxt = next((k for k, o in enumerate(plan.options[opt.unit]) if o.ok), None)
                if nxt is not None:
                    plan.choice[opt.unit] = nxt
                    moved = True
        return moved

    def _result(self, plan: _Plan, assembled: tuple[str, list], analysis: Analysis) -> RewriteResult:
        rewrite, placed = assembled
        edits, holes = [], []
        for opt, start, end in placed:
            edits.append(Edit(start=opt.start, end=opt.end, original=plan.text[opt.start : opt.end],
                              replacement=opt.replacement, pattern=opt.pattern, strategy=opt.strategy))  # fmt: skip
            for m in PLACEHOLDER.finditer(rewrite, start, end):
                holes.append(Placeholder(start=m.start(), end=m.end(), hint=m.group()[1:-1]))
        return RewriteResult(rewrite=rewrite, edits=edits, placeholders=holes,
                             additions=self._additions(plan, rewrite, analysis), analysis=analysis)  # fmt: skip

    def _additions(self, plan: _Plan, rewrite: str, analysis: Analysis) -> list[Addition]:
        """For each strength the rewrite lacks, the verified phrasebook sentence closest to the message."""
        if not plan.scored.decided.any():
            return []  # nothing here reads as an apology or a conflict: nothing to add
        have = {s.strength for s in analysis.strengths}
        situations = pb.situations_of(plan.text)
        vectors = plan.scored.vectors
        centre = vectors.mean(axis=0) if vectors is not None and len(vectors) else None
        out = []
        for strength in ("validation", "repair", "patience"):
            if strength in have:
                continue
            ks = [k for k, p in enumerate(pb.PHRASES) if p.aim == strength and self._phrase_ok[k]
                  and p.situation in situations and p.text.lower() not in rewrite.lower()]  # fmt: skip
            if not ks:
                continue
            best = ks[int(np.argmax(self._phrase_vectors[ks] @ centre))] if centre is not None else ks[0]
            out.append(Addition(text=fit(pb.PHRASES[best].text, ".", texting=is_texting(plan.text)), strength=strength))
        return out


# The strategies that answer each pattern most directly.
_ANSWERS = {
    "vague": {pb.NAME_IT, pb.OWN_ACT},
    "non_apology": {pb.DROP_IF, pb.VALIDATE, pb.OWN_ACT},
    "excuse": {pb.OWN_ACT, pb.DROP_EXCUSE, pb.OWN_CHOICE, pb.DROP_BUT},
    "blame": {pb.OWN_CHOICE, pb.ABOUT_YOU, pb.OWN_ACT, pb.DROP_BUT},
    "minimize": {pb.VALIDATE, pb.DROP_JUST, pb.OWN_ACT},
    "pressure": {pb.TIME},
}


def _said(opt: Option) -> str:
    return re.sub(r"\W+", " ", opt.replacement.lower()).strip()


def _original_vector(scored: Scored, opt: Option) -> np.ndarray | None:
    """The embedding of what the option replaces (the mean over the units it covers, normalised)."""
    if scored.vectors is None:
        return None
    rows = [k for k, u in enumerate(scored.units) if u.start >= opt.start and u.end <= opt.end] or [opt.unit]
    vec = scored.vectors[rows].mean(axis=0)
    return vec / (np.linalg.norm(vec) or 1.0)


def _dedupe(options: list[Option]) -> list[Option]:
    seen, out = set(), []
    for o in options:
        key = (o.start, o.end, o.replacement.lower())
        if key not in seen:
            seen.add(key)
            out.append(o)
    return out


@lru_cache(maxsize=8192)
def _segments(text: str) -> tuple[str, ...]:
    return tuple(u.text for u in segment(text)) if text.strip() else ()
