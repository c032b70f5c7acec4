from hypothesis import given, settings
from hypothesis import strategies as st

from service.segmenter import contexts, segment


def spans(text: str) -> list[tuple[int, int, str]]:
    return [(u.start, u.end, u.text) for u in segment(text)]


def test_sentences_with_exact_offsets():
    text = "I lied about Friday. But you were ignoring me all week. I'll tell you everything from now on."
    assert spans(text) == [
        (0, 20, "I lied about Friday."),
        (21, 55, "But you were ignoring me all week."),
        (56, 93, "I'll tell you everything from now on."),
    ]


def test_but_clause_stands_as_its_own_unit():
    text = "I'm sorry if you were hurt, but you're overreacting."
    assert spans(text) == [(0, 27, "I'm sorry if you were hurt,"), (28, 52, "but you're overreacting.")]


def test_unpunctuated_texting_splits_on_lines_and_bare_but():
    text = "sorry if ur upset but u started it\nim not doing this rn"
    assert [u.text for u in segment(text)] == ["sorry if ur upset", "but u started it", "im not doing this rn"]


def test_but_that_is_not_a_clause_boundary_is_kept():
    assert [u.text for u in segment("I had no choice but to wait. I feel nothing but love for you.")] == [
        "I had no choice but to wait.",
        "I feel nothing but love for you.",
    ]


def test_semicolon_splits_clauses():
    assert [u.text for u in segment("I was tired; that is no excuse.")] == ["I was tired;", "that is no excuse."]


def test_offsets_are_code_points_with_emoji_and_quotes():
    text = "💔💔 “I’m sorry,” I said. 😊 You deserve better 🙏"
    units = segment(text)
    assert [text[u.start : u.end] for u in units] == [u.text for u in units]
    # each emoji is one code point (two UTF-16 units in JavaScript)
    assert [(u.start, u.end) for u in units] == [(0, 23), (24, 46)]
    assert units[-1].text == "😊 You deserve better 🙏"


def test_whitespace_and_symbol_only_text_has_no_units():
    assert segment("   \n\t ") == []
    assert segment("🙏 !!! ...") == []


def test_context_is_the_neighbouring_units():
    units = segment("First one. Second one. Third one.")
    assert contexts(units) == ["Second one.", "First one. Third one.", "Second one."]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200))
def test_units_always_point_at_their_text(text: str):
    previous_end = 0
    for unit in segment(text):
        assert text[unit.start : unit.end] == unit.text
        assert unit.text == unit.text.strip() and unit.text
        assert unit.start >= previous_end
        previous_end = unit.end
