"""The fused turn decision: audio model, the transcript's words and the silence, as one probability.

Cuts of real recordings (speech cut just after a word, then silence) go through the turn
detector on the virtual clock with the words Whisper wrote for each cut, measured (the
transcripts are given, so the tests do not depend on one CPU's recognizer).
"""

from __future__ import annotations

import pytest

from graphflow.frames.speech import TurnEvidence
from graphflow.timebase import MS, from_seconds
from nodes.turn.fused import FusedRule, PauseMemory, logit
from nodes.turn.options import FusedOptions, TurnOptions
from nodes.turn.text_complete import lexical
from tests.voice.test_turn import Seg, detect

FUSED = TurnOptions()  # the default
VAD_STOP = 300 * MS  # the stream's SpeechStopped comes 300 ms after the speech end; the rule counts from it


def test_the_default_is_the_fused_decision() -> None:
    assert FUSED.mode == "fused"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Another engineer rushed toward the...", "trailing"),  # Whisper hears the cut
        ("Ten of...", "trailing"),
        ("author of the", "dangling"),
        ("And Mr.", "dangling"),  # a title needs its name
        ("out of the apartment by another.", "dangling"),
        ("potatoes to be ladled out in.", "dangling"),  # the period is the recognizer's, not the speaker's
        ("for a full hour he had.", "open_clause"),
        ("What's the word?", "question"),  # a cut "What's the weather": the "?" only leans
        ("Now it's", "open_clause"),  # a subject and its auxiliary, nothing said yet
        ("Where are you from?", "question"),  # a preposition may end a question
        ("Good morning, Steve.", "plain"),
    ],
)
def test_lexical_reading_trusts_words_and_trailing_marks_not_final_punctuation(text: str, rule: str) -> None:
    assert lexical(text).rule == rule
    assert (lexical(text).score >= 0.5) == (rule in ("plain", "question"))


def test_a_question_mark_alone_does_not_end_a_turn_the_audio_model_doubts() -> None:
    rule = FusedRule(FusedOptions())
    doubted = rule.weigh(0.05, "What's the word?", 0.0, 3000)
    assert doubted.due_ms > 500  # not an answer at the first breath
    assert rule.weigh(0.05, "What's the word...", 0.0, 3000).due_ms == 3000
    assert rule.weigh(0.5, "What's the word?", 0.0, 3000).due_ms == FusedOptions().min_delay_ms


def test_the_silence_asked_for_falls_with_the_evidence() -> None:
    o = FusedOptions()
    rule = FusedRule(o)
    assert rule.due_ms(o.sure_logit, 3000) == pytest.approx(o.sure_delay_ms)
    assert rule.due_ms(o.doubt_logit, 3000) == pytest.approx(o.doubt_delay_ms)
    assert rule.due_ms(5.0, 3000) == o.min_delay_ms  # sure: as early as allowed
    assert rule.due_ms(-8.0, 3000) == 3000  # hopeless: the maximum delay
    zs = [-6.0, -3.0, -2.2, -1.0, 0.0, 3.0]
    dues = [rule.due_ms(z, 3000) for z in zs]
    assert dues == sorted(dues, reverse=True)
    # the user's own long pauses lengthen a doubtful wait, never a sure one
    assert rule.due_ms(-2.2, 3000, adapted_ms=400) == pytest.approx(rule.due_ms(-2.2, 3000) + 400)
    assert rule.due_ms(0.0, 3000, adapted_ms=400) == rule.due_ms(0.0, 3000)
    evidence = rule.weigh(0.9, "Good morning, Steve.", 0.0, 3000)
    assert evidence.logit == pytest.approx(logit(0.9) + o.text_weight * logit(0.5))
    assert evidence.probability(evidence.due_ms) == pytest.approx(0.5)
    assert evidence.probability(evidence.due_ms + 500) > 0.5 > evidence.probability(evidence.due_ms - 500)


def test_pauses_inside_turns_are_remembered() -> None:
    memory = PauseMemory()
    assert memory.extra_ms(FusedOptions()) == 0.0
    for _ in range(8):
        memory.add(1200 * MS)
    assert memory.extra_ms(FusedOptions()) == FusedOptions().adapt_max_ms  # capped
    short = PauseMemory()
    short.add(150 * MS)
    assert short.extra_ms(FusedOptions()) == 0.0  # everyone pauses that long between words


def decided(
    name: str, cut_s: float, start: float, text: str
) -> tuple[float | None, TurnEvidence | None, str]:
    """Silence (ms) after the cut when the turn ended (None: held to the end), its evidence and reason."""
    r = detect(name, [Seg(start, cut_s, text)], FUSED, cut_s=cut_s)
    if not r.turns:
        return None, None, ""
    return (r.arrivals[0] - from_seconds(cut_s)) / MS, r.turns[0].evidence, r.turns[0].reason


# sentence ends: (fixture, cut, speech start, Whisper's words for the cut)
COMPLETE = [
    ("cmd_go_forward_ten_meters.wav", 2.73, 0.9, "Go forward 10 meters."),
    ("conv_katie_steve_diarization.wav", 1.11, 0.12, "Good morning, Steve."),
    (
        "read_librivox_ss_0870.wav",
        7.1,
        0.1,
        "And Mr. John Dashwood had then leisure to consider how much "
        "there might be prudently in his power to do for them.",
    ),
    (
        "read_ls_251-137823-0003.wav",
        4.145,
        0.4,
        "Another engineer rushed toward the door to see what was happening outside.",
    ),
]
# inside a sentence
INCOMPLETE = [
    ("read_ls_251-137823-0003.wav", 1.93, 0.4, "Another engineer rushed toward the..."),
    ("read_ls_1089-134686-0000.wav", 2.02, 0.4, "He hoped there would be stew for..."),
    ("read_arctic_aew_a0001.wav", 0.915, 0.3, "author of the"),
    ("read_librivox_ss_0870.wav", 2.92, 0.1, "And Mr. John Dashwood had then leisure to"),
]


@pytest.mark.parametrize(("name", "cut", "start", "text"), COMPLETE)
def test_a_finished_sentence_ends_the_turn_within_half_a_second(
    name: str, cut: float, start: float, text: str
) -> None:
    silence, evidence, reason = decided(name, cut, start, text)
    assert reason == "fused" and evidence is not None
    assert silence is not None and silence <= VAD_STOP / MS + 200  # as soon as the stream's stop came
    assert evidence.due_ms <= 500 and evidence.text_rule == "plain" and evidence.audio > 0.5


@pytest.mark.parametrize(("name", "cut", "start", "text"), INCOMPLETE)
def test_a_pause_inside_a_sentence_holds_past_a_second_and_a_half(
    name: str, cut: float, start: float, text: str
) -> None:
    silence, evidence, _ = decided(name, cut, start, text)
    assert silence is None or silence > 1500, (silence, evidence)
    if evidence is not None:
        assert evidence.text_rule in ("trailing", "dangling") and evidence.due_ms > 1500


def test_a_final_of_an_earlier_stretch_does_not_stand_for_the_last_one() -> None:
    # the STT closed a stretch at a pause inside the speech (its guess stood, then speech resumed):
    # the turn waits for the final that reaches the end of speech, and its text has both
    from graphflow.frames import Transcript

    name, cut = "read_ls_251-137823-0003.wav", 4.145
    early = Transcript(
        text="Another engineer rushed toward the door",
        final=True,
        start=from_seconds(0.4),
        end=from_seconds(2.3),
        segment_id="a",
        pts=from_seconds(2.6),
    )
    late = Transcript(
        text="to see what was happening outside.",
        final=True,
        start=from_seconds(2.35),
        end=from_seconds(cut),
        segment_id="b",
        pts=from_seconds(cut + 1.0),
    )
    r = detect(name, [Seg(0.4, cut, "")], FUSED, cut_s=cut, transcripts=[early, late])
    assert [t.text for t in r.turns] == [f"{early.text} {late.text}"]
    assert r.arrivals[0] >= from_seconds(cut + 1.0)
    assert r.detector.late_transcripts == 0
