"""Text to speech: sentence splitting, streaming SpeechAudio, Piper and eSpeak NG round trips."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import msgspec
import numpy as np
import pytest
import soxr

from graphflow import Frame, Graph, Input, Node, Output, QueueSpec, VirtualClock
from graphflow.bench.wer import wer
from graphflow.frames.agent import ReplyDelta, ReplyEnd, SpeechAudio
from graphflow.models import ModelCache, ModelHub, ModelMissing
from graphflow.timebase import MS, SECOND, samples_to_ns
from nodes.memory import FrameSink, FrameSource, FrameSourceOptions
from nodes.tts.espeak import EspeakOptions, EspeakTTS
from nodes.tts.piper import PiperTTS
from nodes.tts.sentences import SentenceTTS
from nodes.tts.splitter import SentenceSplitter, speakable, split_sentences
from tests.engine.helpers import run_plan
from tests.fixtures import model_cache

Reply = ReplyDelta | ReplyEnd

# --------------------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    ("text", "sentences", "rest"),
    [
        ("Hello there. How are you? I am", ["Hello there.", "How are you?"], " I am"),
        ("Dr. Smith met Mr. Jones at St. Paul's. Then", ["Dr. Smith met Mr. Jones at St. Paul's."], " Then"),
        ("It costs 3.5 dollars, e.g. a coffee. Yes", ["It costs 3.5 dollars, e.g. a coffee."], " Yes"),
        ("We meet at 10.30 today. Ok", ["We meet at 10.30 today."], " Ok"),
        ("J. R. R. Tolkien wrote it. And", ["J. R. R. Tolkien wrote it."], " And"),
        ("In 2020. Then", ["In 2020."], " Then"),
        ("The answer is no. Then", ["The answer is no."], " Then"),
        ("Costs 3.", [], "Costs 3."),  # may still become 3.5
        ("Hi", [], "Hi"),
        ("Great!", ["Great!"], ""),  # ! and ? end a sentence at once
        ("Done.", ["Done."], ""),  # so does a period after an ordinary word
        ("Well... maybe. Next", ["Well... maybe."], " Next"),
        ("Wait\u2026 ", [], "Wait\u2026 "),  # an ellipsis waits for the next word
        ("Wait\u2026 Then", ["Wait\u2026"], " Then"),
        ('"Stop!" he said. Ok', ['"Stop!" he said.'], " Ok"),
        ('He said "Go." Then', ['He said "Go."'], " Then"),
        ("1. First item\n2. Second item\n", ["1. First item", "2. Second item"], ""),
        ("Title line\n\n* * *\nBody", ["Title line"], "Body"),
        ("See example.com now", [], "See example.com now"),
    ],
)
def test_split_sentences(text: str, sentences: list[str], rest: str) -> None:
    assert split_sentences(text) == (sentences, rest)


def test_long_run_without_punctuation_is_cut_at_a_clause_boundary() -> None:
    text = "so we walked along the river for a while, then we turned left at the old mill " * 3
    sentences, rest = split_sentences(text, max_chars=100)
    assert sentences and all(len(s) <= 100 for s in sentences)
    assert sentences[0].endswith(",")  # the clause boundary, not a random space
    assert len(rest) <= 100
    words = " ".join([*sentences, rest]).split()
    assert words == text.split()  # nothing lost, nothing repeated


def test_final_flushes_the_rest_and_drops_pieces_without_words() -> None:
    assert split_sentences("Costs 3.", final=True) == (["Costs 3."], "")
    assert split_sentences("Ok. *** \n --- ", final=True) == (["Ok."], "")


def test_streaming_piece_by_piece_gives_the_same_sentences_as_the_whole_text() -> None:
    text = (
        "Dr. Brown arrived at 10.30, e.g. early. It cost 3.5 euros! Did it? Yes\u2026 Quite.\n"
        "A rather long clause that keeps going without any full stop at all, "
        "then another clause follows it; and yet another one comes along after that too. End"
    )
    whole = split_sentences(text, final=True, max_chars=80)[0]
    for size in (1, 3, 7):
        splitter = SentenceSplitter(max_chars=80)
        got = [s for i in range(0, len(text), size) for s in splitter.push(text[i : i + size])]
        assert got + splitter.flush() == whole


def test_speakable_removes_markdown_marks() -> None:
    assert speakable("**Note:** use `pip`  # now") == "Note: use pip now"


# --------------------------------------------------------------------------- graphs


def deltas(
    text: str, reply_id: str = "r1", *, size: int = 4, start_ms: int = 0, step_ms: int = 10
) -> list[Reply]:
    """``text`` as the LLM streams it: ``size``-character deltas ``step_ms`` apart."""
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    return [
        ReplyDelta(text=p, reply_id=reply_id, pts=(start_ms + k * step_ms) * MS) for k, p in enumerate(pieces)
    ]


def reply(text: str, reply_id: str = "r1", **kw: int) -> list[Reply]:
    """A whole streamed reply: deltas, then ReplyEnd."""
    frames = deltas(text, reply_id, **kw)
    end_pts = frames[-1].pts + MS if frames else 0
    return [*frames, ReplyEnd(reply_id=reply_id, text=text, pts=end_pts)]


def source(frames: list[Reply]) -> FrameSource:
    src = FrameSource(frames, FrameSourceOptions(paced=True), name="src")
    src.out.frame_type = Reply
    return src


def speak(tts: SentenceTTS, frames: list[Reply]) -> FrameSink:
    """Run source -> tts -> sink on the virtual clock."""
    sink = FrameSink(name="sink")
    run_plan(Graph().chain(source(frames), tts, sink).compile())
    return sink


def audio(frames: list[Frame]) -> np.ndarray:
    return np.concatenate([f.samples[:, 0] for f in frames if isinstance(f, SpeechAudio)])


@pytest.fixture(scope="module")
def whisper() -> Iterator[object]:
    from faster_whisper import WhisperModel

    yield WhisperModel(str(model_cache().path("whisper-base")), compute_type="int8")


def transcribe(model: object, pcm: np.ndarray, rate: int) -> str:
    x = soxr.resample(pcm.astype(np.float32) / 32768, rate, 16000)
    segments, _ = model.transcribe(x, beam_size=1, language="en")  # type: ignore[attr-defined]
    return "".join(s.text for s in segments).strip()


SPOKEN = (
    "Hello there. How can I help you today? The weather is lovely this morning, so we could take "
    "a walk in the park. Please remember to bring your umbrella. Could you tell me where the "
    "nearest train station is?"
)
WER_LIMIT = 0.15  # measured on this reply: 0.00 (Piper), 0.00 (eSpeak NG; 0.03 with pause_ms=0)


@pytest.fixture(scope="module")
def hub() -> ModelHub:
    return ModelHub(model_cache())


@pytest.mark.parametrize("provider", [PiperTTS, EspeakTTS])
def test_streamed_reply_is_intelligible_to_whisper(
    provider: type[SentenceTTS], hub: ModelHub, whisper: object
) -> None:
    tts = provider(name="tts", hub=hub)
    sink = speak(tts, reply(SPOKEN))
    heard = transcribe(whisper, audio(sink.frames), tts.rate)
    assert wer(SPOKEN, heard) <= WER_LIMIT, heard
    assert tts.stats.synthesis.count == 5 and tts.stats.first_audio.count == 1
    assert 0 < tts.stats.real_time_factor < 1


@pytest.mark.parametrize("provider", [PiperTTS, EspeakTTS])
def test_first_audio_leaves_before_the_next_sentence_arrives(
    provider: type[SentenceTTS], hub: ModelHub
) -> None:
    first, second = "Sure, I can do that. ", "It will take a minute."
    frames = deltas(first) + deltas(second, start_ms=5000)
    frames.append(ReplyEnd(reply_id="r1", text=first + second, pts=5100 * MS))
    sink = speak(provider(name="tts", hub=hub), frames)
    arrival = dict(zip((id(f) for f in sink.frames), sink.arrivals, strict=True))
    speech = [f for f in sink.frames if isinstance(f, SpeechAudio)]
    assert arrival[id(speech[0])] < 5 * SECOND  # before the second sentence's text was sent
    assert speech[0].text == "Sure, I can do that."
    later = [f for f in speech if f.segment == 1]
    assert later and all(arrival[id(f)] >= 5 * SECOND for f in later)


def check_bookkeeping(frames: list[SpeechAudio], reply_id: str, rate: int) -> list[str]:
    """Offsets/totals add up per segment, pts are contiguous from 0, one last frame at the end."""
    assert frames and all(f.reply_id == reply_id and f.rate == rate for f in frames)
    assert [f.last for f in frames] == [False] * (len(frames) - 1) + [True]
    assert frames[0].pts == 0
    for a, b in itertools.pairwise(frames):
        assert b.pts == a.pts + a.duration
    sample = 0
    for f in frames:
        assert f.pts == samples_to_ns(sample, rate) and f.samples.dtype == np.int16
        sample += f.samples_per_channel
    texts = []
    for seg in sorted({f.segment for f in frames}):
        part = [f for f in frames if f.segment == seg]
        assert len({f.text for f in part}) == 1 and len({f.total for f in part}) == 1
        assert [f.offset for f in part] == list(np.cumsum([0] + [f.samples_per_channel for f in part[:-1]]))
        assert sum(f.samples_per_channel for f in part) == part[0].total
        assert all(f.samples_per_channel == rate // 50 for f in part[:-1])  # 20 ms frames
        texts.append(part[0].text)
    return texts


def test_frame_bookkeeping_across_two_replies(hub: ModelHub) -> None:
    frames = reply("Good morning. Nice to meet you!", "a") + reply("Bye now.", "b", start_ms=2000)
    frames = [msgspec.structs.replace(f, generation=3) for f in frames]
    tts = EspeakTTS(name="tts", hub=hub)
    sink = speak(tts, frames)
    speech = [f for f in sink.frames if isinstance(f, SpeechAudio)]
    assert len(speech) == len(sink.frames) and all(f.generation == 3 for f in speech)
    a = [f for f in speech if f.reply_id == "a"]
    b = [f for f in speech if f.reply_id == "b"]
    assert check_bookkeeping(a, "a", 22050) == ["Good morning.", "Nice to meet you!"]
    assert check_bookkeeping(b, "b", 22050) == ["Bye now."]
    assert a[-1].heard_text(a[-1].samples_per_channel) == "Nice to meet you!"


def test_reply_end_only_and_empty_reply(hub: ModelHub) -> None:
    frames: list[Reply] = [
        ReplyEnd(reply_id="whole", text="Spoken from the end frame only.", pts=0),
        ReplyEnd(reply_id="empty", text="", pts=1000 * MS),
        *reply("*** ", "marks", start_ms=2000),  # nothing speakable
    ]
    sink = speak(EspeakTTS(name="tts", hub=hub), frames)
    speech = [f for f in sink.frames if isinstance(f, SpeechAudio)]
    whole = [f for f in speech if f.reply_id == "whole"]
    assert check_bookkeeping(whole, "whole", 22050) == ["Spoken from the end frame only."]
    for rid in ("empty", "marks"):
        [silent] = [f for f in speech if f.reply_id == rid]
        assert silent.last and silent.text == "" and silent.samples_per_channel == 441
        assert not silent.samples.any() and silent.duration == 20 * MS


def test_unknown_voice_and_bad_options_are_config_errors(hub: ModelHub) -> None:
    from graphflow.errors import ConfigError

    with pytest.raises(ConfigError, match="rate"):
        EspeakTTS(EspeakOptions(rate=5))
    with pytest.raises(ConfigError, match="no voice"):
        asyncio.run(EspeakTTS(EspeakOptions(voice="xx-nope"), hub=hub).setup())


def test_missing_piper_model_names_the_download_command(tmp_path: object) -> None:
    tts = PiperTTS(hub=ModelHub(ModelCache(tmp_path)))  # type: ignore[arg-type]
    assert tts.rate == 22050  # the format is known before the model is there
    with pytest.raises(ModelMissing) as err:
        asyncio.run(tts.setup())
    assert "graphflow models download piper-joe" in err.value.hint


# --------------------------------------------------------------------------- cancellation


class Barge(Node):
    """Passes reply frames on, stamped with the current generation; a "<stop>" delta cancels."""

    inp = Input(Reply)
    out = Output(Reply)

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.fired_at: list[int] = []

    async def on_frame(self, frame: ReplyDelta | ReplyEnd) -> None:
        if isinstance(frame, ReplyDelta) and frame.text == "<stop>":
            self.fired_at.append(self.now())
            self.cancel("barge-in")
            return
        await self.out.send(msgspec.structs.replace(frame, generation=self.generation))


class Player(Node):
    """Plays audio in real time: takes each frame's duration of clock time."""

    inp = Input(SpeechAudio)

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.frames: list[SpeechAudio] = []

    async def on_frame(self, frame: SpeechAudio) -> None:
        await self.clock.sleep_until(self.now() + frame.duration)
        self.frames.append(frame)


@pytest.mark.parametrize("provider", [PiperTTS, EspeakTTS])
def test_cancel_mid_reply_emits_no_audio_of_the_old_generation(
    provider: type[SentenceTTS], hub: ModelHub
) -> None:
    long = "This is the first sentence. " * 4 + "And here comes a fifth one that should never be heard."
    frames = deltas(long, "old", size=200)
    frames.append(ReplyDelta(text="<stop>", pts=1500 * MS))
    frames += reply("Okay, I stop.", "new", start_ms=1600)
    barge, tts, player, tap = (
        Barge(name="barge"),
        provider(name="tts", hub=hub),
        Player(name="player"),
        FrameSink(),
    )
    g = Graph().chain(source(frames), barge, tts)
    g.connect(tts.out, player.inp, queue=QueueSpec.frames(10))  # backpressure paces the TTS
    g.connect(tts.out, tap.inp)
    g.cancels(barge, tts, player)
    run_plan(g.compile(), clock=VirtualClock())
    [fired] = barge.fired_at
    heard = [(f, t) for f, t in zip(tap.frames, tap.arrivals, strict=True) if isinstance(f, SpeechAudio)]
    assert len(heard) == len(tap.frames)
    old = [(f, t) for f, t in heard if f.reply_id == "old"]
    assert old and all(t <= fired for _, t in old)  # audio was flowing, and none came after the cancel
    assert all(f.generation == 0 and not f.last for f, _ in old)  # the old reply was cut, never ended
    assert max(f.segment for f, _ in old) < 4  # the fifth sentence was never spoken
    new = [f for f in tap.frames if isinstance(f, SpeechAudio) and f.reply_id == "new"]
    assert check_bookkeeping(new, "new", tts.rate) == ["Okay, I stop."]
    assert all(f.generation == 1 for f in new)
    assert {f.reply_id for f in player.frames if f.generation == 0} <= {"old"}
    assert [id(f) for f in player.frames if f.reply_id == "new"] == [id(f) for f in new]
