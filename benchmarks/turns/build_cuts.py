"""Build ``benchmarks/turns/cuts.tsv``: labelled end-of-turn cuts of the recorded fixtures.

    .venv/bin/python benchmarks/turns/build_cuts.py [--preview DIR] [--quiet] [--only FILE --out TSV]

For every fixture with speech (``README.md`` beside this file says more):

1. Whisper base (faster-whisper, int8, ``word_timestamps=True``) times the words of the clip;
   they are aligned to the manifest transcript (case, punctuation, digits, contractions
   normalised), so every cut falls after a manifest word.
2. The cut points are the sentence ends of the manifest text (``complete``) and the
   hand-picked points of ``labels.INCOMPLETE`` (``incomplete``, at most ``MAX_INCOMPLETE`` a
   clip), whose last word must be a function word or close no phrase.
3. The room tone is the quietest stretch of the clip away from speech (level only).
4. A cut is placed at a word end found in the level above 200 Hz near Whisper's word end: the
   end of speech before a pause at a sentence end; a pause, a dip or a fall of the level
   between words inside a sentence; never inside the hiss that starts the next word. At most
   60 ms of pause follow the word, clear of the next word's onset.
5. A place is kept only if Whisper hears exactly the manifest prefix in the cut audio (clip
   up to the cut + 3 s of room tone), the audio after the cut starts with the next word, and
   the standard decoder hears the prefix again; otherwise the mismatch is printed and the
   next place is tried. Points no place passes are left out and listed.

The output is deterministic: greedy decoding, a fixed order of candidates, times in ms.

This script runs Whisper, checks and writes the cuts; beside it, ``labels.py`` holds the
hand-made labels, ``word_alignment.py`` the normalising and aligning of words (1., 5.),
``levels.py`` the level envelope and the room tone (3.), ``cut_places.py`` the clip and
the places to cut it (4.).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import os
import sys
import time
import wave
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run by path: the sibling modules are imported from the repository root

from benchmarks.turns.cut_places import Candidate, Clip, candidates  # noqa: E402
from benchmarks.turns.labels import (  # noqa: E402
    DIGITAL_ROOM,
    FUNCTION_WORDS,
    INCOMPLETE,
    MAX_INCOMPLETE,
    NOT_A_TURN,
    PHRASE_WORDS,
    SKIP,
    TURNS,
    WORD_SPEAKERS,
)
from benchmarks.turns.levels import WIN, envelope_db, find_room_tone, high_band_share  # noqa: E402
from benchmarks.turns.word_alignment import (  # noqa: E402
    SENTENCE_END,
    Tokens,
    align_times,
    heard_words,
    norm_word,
    plain,
    similarity,
    simple,
    without_loops,
)
from graphflow.bench.cuts import COLUMNS, RATE, TurnCut, cut_audio, join_tail, read_fixture  # noqa: E402
from graphflow.models import ModelHub  # noqa: E402
from nodes.stt.whisper import WhisperEngine, WhisperOptions  # noqa: E402

FIXTURES = ROOT / "benchmarks" / "fixtures"
OUT = Path(__file__).resolve().parent / "cuts.tsv"

TAIL_S = 3.0
"""Room tone after each cut."""
INVENTED_AFTER_S = 0.5
"""Words Whisper places this long after the cut or later lie in the room tone: inventions."""


@dataclass
class Chosen:
    """A cut that passed the checks, and the candidates rejected before it."""

    cand: Candidate | None
    heard: str
    rejected: list[str]
    remarks: list[str]


class Builder:
    """Runs Whisper over the fixtures and places every cut."""

    def __init__(self, verbose: bool) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.verbose = verbose
        self.engine = WhisperEngine(ModelHub().cache.path("whisper-base"), cpu_threads=2)
        self.engine.load()
        # the checks want Whisper's words, even where it doubts there is speech (noisy clips)
        self.options = WhisperOptions(no_speech_threshold=1.0)
        self.mismatches: list[str] = []

    def log(self, text: str) -> None:
        """Print ``text`` unless quiet."""
        if self.verbose:
            print(text, flush=True)

    # -- Whisper -------------------------------------------------------------------------------

    def words_with_times(
        self, pcm: np.ndarray, no_speech_threshold: float | None = 0.6
    ) -> list[tuple[str, float, float]]:
        """Whisper's words and their times (faster-whisper's standard decoder)."""
        segments, _ = self.engine.model.transcribe(
            pcm.astype(np.float32) / 32768,
            language="en",
            beam_size=1,
            temperature=0.0,
            word_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            no_speech_threshold=no_speech_threshold,
        )
        return [(w.word, float(w.start), float(w.end)) for s in segments for w in s.words]

    def hear(self, pcm: np.ndarray) -> list[str]:
        """Normalised tokens Whisper hears in ``pcm`` (the engine the voice agent uses)."""
        text = self.engine.transcribe(pcm.astype(np.float32) / 32768, self.options).text
        return [t for w in text.split() for t in norm_word(w)]

    # -- per clip ------------------------------------------------------------------------------

    def prepare(self, row: dict[str, str]) -> Clip:
        """The fixture of a manifest row with its words timed, its envelope and its room tone."""
        clip = Clip(row["file"], row, read_fixture(FIXTURES / row["file"]), row["transcript"].split())
        timed = self.words_with_times(clip.pcm)
        clip.heard = [w.strip() for w, _, _ in timed]
        clip.start, clip.end, clip.said = align_times(clip.words, timed, clip.seconds)
        clip.env, clip.t = envelope_db(clip.pcm)
        p95 = float(np.percentile(clip.env[clip.env > -20], 95))
        first = find_room_tone(clip.pcm)
        if first is None:
            raise SystemExit(f"{clip.file}: no 100 ms without digital silence")
        speech = clip.t[clip.env > self.levels(clip, first, p95)[1]]
        for tone in (first, find_room_tone(clip.pcm, speech, clip.file in DIGITAL_ROOM)):
            if tone is not None:
                clip.tone = tone
                clip.floor_db, clip.quiet_db = self.levels(clip, tone, p95)
        clip.fricative = (high_band_share(clip.pcm) >= 0.5) & (clip.env >= clip.floor_db + 6.0)
        return clip

    @staticmethod
    def levels(clip: Clip, tone: tuple[int, int], p95: float) -> tuple[float, float]:
        """The room tone's level and the level under which a frame is quiet (dB)."""
        a, b = tone
        inside = (clip.t >= a / RATE + WIN / 2 / RATE) & (clip.t <= b / RATE - WIN / 2 / RATE)
        floor = float(10 * np.log10(np.mean(10 ** (clip.env[inside] / 10)) + 1e-3))
        # quiet: a little above the room tone, and at least 40 dB under the loud speech
        return floor, max(floor + float(np.clip(0.25 * (p95 - floor), 6.0, 12.0)), p95 - 40.0)

    def place(self, clip: Clip, k: int) -> Chosen:
        """The first candidate after word ``k`` that passes the checks (see ``check``)."""
        rejected: list[str] = []
        for cand in candidates(clip, k)[:16]:
            problem, heard, remarks = self.check(clip, k, cand.cut, next_checked=cand.kind != "end of speech")
            if problem:
                rejected.append(f"{cand.kind} {cand.cut:.3f} s: {problem}")
                continue
            return Chosen(cand, heard, rejected, remarks)
        return Chosen(None, "", rejected, [])

    def check(self, clip: Clip, k: int, cut: float, next_checked: bool = True) -> tuple[str, str, list[str]]:
        """What is wrong with cutting after word ``k`` at ``cut`` ('' if nothing), the text heard
        and remarks on it.

        Whisper must hear the manifest words up to ``k`` in the cut audio (clip + room tone),
        no more, and the last one as itself (or as Whisper spells it in the whole clip); the
        audio after the cut must start with the next word, whole (unless a pause of >= 150 ms
        separates them: ``next_checked=False``). The standard decoder, with
        word times, then hears the cut audio once more: words it places wholly in the room
        tone (from 0.5 s after the cut) are inventions over silence, reported but not counted.
        """
        ref = Tokens.of(clip.words)
        a, b = clip.tone
        tone = clip.pcm[a:b]
        end = round(cut * RATE)
        audio = join_tail(clip.pcm[:end], tone, round(TAIL_S * RATE))
        hyp = self.hear(audio)
        problem, only_extra = self.prefix_problem(clip, k, ref, hyp)
        if problem and not only_extra:  # extra words at the end: the timed decoder decides below
            return problem, "", []
        if k + 1 < len(clip.words) and next_checked:  # not needed across a pause >= 150 ms
            next_ref = Tokens.of(clip.words[k + 1 :], first=k + 1)
            lead = join_tail(np.zeros(0, np.int16), tone, int(0.3 * RATE))
            rest = join_tail(clip.pcm[end : end + 3 * RATE], tone, int(0.5 * RATE))
            after = self.hear(np.concatenate([lead, rest]))
            m, before, _ = heard_words(next_ref, after)
            names = next_ref.tokens[:1] + clip.said[k + 1][:1]
            alike = max(similarity(after[0], x) for x in names) if after else 0.0
            if m == 0 or before or alike < 0.5:
                return (
                    f"after the cut heard {' '.join(after[:6])!r} (next word {clip.words[k + 1]!r})",
                    "",
                    [],
                )
        timed = self.words_with_times(audio, no_speech_threshold=None)
        kept = [w.strip() for w, start, _ in timed if start < cut + INVENTED_AFTER_S]
        invented = [w.strip() for w, start, _ in timed if start >= cut + INVENTED_AFTER_S]
        hyp2 = [t for w in kept for t in norm_word(w)]
        problem, _ = self.prefix_problem(clip, k, ref, hyp2)
        if problem:
            return f"standard decoder: {problem}", "", []
        remarks = differences(clip, k, hyp2)
        if invented:
            remarks.append(f"Whisper also wrote {' '.join(invented)!r} over the room tone")
        return "", " ".join(kept), remarks

    def prefix_problem(self, clip: Clip, k: int, ref: Tokens, hyp: list[str]) -> tuple[str, bool]:
        """Why ``hyp`` is not the manifest prefix up to word ``k`` ('' when it is), and whether
        the only fault is words added after it."""
        hyp = without_loops(hyp)  # Whisper looping over the room tone repeats words already heard
        n, _, extra = heard_words(ref, hyp)
        if n != k + 1:
            return f"heard {' '.join(hyp)!r}", False
        last = hyp[len(hyp) - 1 - extra] if hyp else ""
        want = norm_word(clip.words[k])[-1]
        if not (last == want or last in clip.said[k] or (len(want) >= 5 and similarity(last, want) >= 0.5)):
            return f"heard {' '.join(hyp)!r} (last word {last!r}, not {want!r})", False
        if extra:
            return f"heard {' '.join(hyp)!r} (words after {want!r})", True
        return "", False


def differences(clip: Clip, k: int, hyp: list[str]) -> list[str]:
    """Words of the prefix Whisper heard otherwise, beyond the spellings it also uses on the whole clip."""
    ref = Tokens.of(clip.words[: k + 1])
    out: list[str] = []
    sm = difflib.SequenceMatcher(None, ref.tokens, hyp, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        words = sorted(set(ref.word[i1:i2]))
        if tag == "replace" and all(t in clip.said[w] for t in hyp[j1:j2] for w in words[:1]):
            continue  # Whisper's own spelling of a name ("Claferum"), as on the whole clip
        said = " ".join(hyp[j1:j2]) or "nothing"
        wanted = " ".join(plain(clip.words[w]) for w in words) or "nothing"
        out.append(f"Whisper heard {said!r} for {wanted!r}")
    return out


def sentence_index(words: list[str], k: int) -> int:
    """Which manifest sentence word ``k`` is in (0-based)."""
    return sum(1 for w in words[:k] if SENTENCE_END.search(w))


def speaker_of(clip: Clip, k: int) -> str:
    """Who says manifest word ``k``."""
    if clip.file in TURNS:
        return TURNS[clip.file][sentence_index(clip.words, k)]
    if clip.file in WORD_SPEAKERS:
        return WORD_SPEAKERS[clip.file][k]
    return clip.row["speaker"]


def cut_points(clip: Clip) -> list[tuple[int, str, str]]:
    """(word index, label, reason) of the cuts of a clip: complete ones, then incomplete by preference."""
    points: list[tuple[int, str, str]] = []
    last = len(clip.words) - 1
    for k, w in enumerate(clip.words):
        if k == last and clip.file in NOT_A_TURN:
            continue
        if k == last:
            points.append((k, "complete", "end of the clip: the turn is over"))
        elif SENTENCE_END.search(w):
            goes_on = speaker_of(clip, k + 1) == speaker_of(clip, k)
            points.append(
                (
                    k,
                    "complete",
                    "sentence end inside the clip"
                    + (
                        "; the same speaker goes on after a pause"
                        if goes_on
                        else "; the other speaker answers"
                    ),
                )
            )
    simple_words = [simple(w) for w in clip.words]
    for prefix, reason in INCOMPLETE.get(clip.file, []):
        p = prefix.split()
        if simple_words[: len(p)] != p:
            raise SystemExit(f"{clip.file}: {prefix!r} is not a prefix of the manifest text")
        k = len(p) - 1
        if SENTENCE_END.search(clip.words[k]) or k == last:
            raise SystemExit(f"{clip.file}: {prefix!r} ends a sentence; it cannot be incomplete")
        if p[-1] not in FUNCTION_WORDS | PHRASE_WORDS:
            raise SystemExit(f"{clip.file}: {prefix!r} ends on {p[-1]!r}, not a function word")
        points.append((k, "incomplete", reason))
    return points


def main(argv: list[str] | None = None) -> int:
    """Build the table (and the previews); 1 if it misses the targets of complete and incomplete cuts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preview", type=Path, help="also write every cut as a WAV file into this folder")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the table (default: cuts.tsv)")
    parser.add_argument("--only", action="append", default=[], help="build the cuts of this fixture only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    builder = Builder(verbose=not args.quiet)
    with (FIXTURES / "manifest.tsv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    cuts: list[TurnCut] = []
    failed: list[str] = []
    for row in rows:
        if row["file"] in SKIP or (args.only and row["file"] not in args.only):
            continue
        clip = builder.prepare(row)
        a, b = clip.tone
        builder.log(
            f"{clip.file}: room tone {a / RATE:.2f}-{b / RATE:.2f} s at {clip.floor_db:.1f} dB, "
            f"quiet below {clip.quiet_db:.1f} dB; Whisper heard {' '.join(clip.heard)!r}"
        )
        kept: list[TurnCut] = []
        taken = 0
        for k, label, reason in cut_points(clip):
            cut_id = f"{Path(clip.file).stem}_{label[0]}{k + 1:02d}"
            if label == "incomplete" and taken >= MAX_INCOMPLETE:
                builder.log(f"  {cut_id}: not needed ({MAX_INCOMPLETE} incomplete cuts in this clip)")
                continue
            chosen = builder.place(clip, k)
            for r in chosen.rejected:
                builder.mismatches.append(f"{cut_id}: {r}")
                builder.log(f"  {cut_id}: rejected {r}")
            if chosen.cand is None:
                failed.append(f"{cut_id} ({label}): no place passes the checks")
                builder.log(f"  {cut_id}: no place passes the checks; left out")
                continue
            taken += label == "incomplete"
            cut = make_cut(clip, k, label, reason, chosen)
            builder.log(
                f"  {cut_id} {label} at {cut.cut_s:.3f} s ({chosen.cand.kind}) heard {chosen.heard!r}"
            )
            kept.append(cut)
        cuts.extend(sorted(kept, key=lambda c: c.cut_s))
    write_table(args.out, cuts)
    if args.preview:
        write_previews(args.preview, cuts)
    counts = Counter(c.label for c in cuts)
    print(
        f"{len(cuts)} cuts ({counts['complete']} complete, {counts['incomplete']} incomplete) -> {args.out}; "
        f"{len(builder.mismatches)} rejected places, {len(failed)} cuts left out "
        f"({time.monotonic() - started:.0f} s)"
    )
    for m in failed:
        print(f"  left out: {m}")
    return 0 if counts["complete"] >= 30 and counts["incomplete"] >= 40 else 1


def make_cut(clip: Clip, k: int, label: str, reason: str, chosen: Chosen) -> TurnCut:
    """The table row of a placed cut."""
    c = chosen.cand
    assert c is not None
    where = f"word end {c.word_end:.3f} s + {1000 * (c.cut - c.word_end):.0f} ms"
    if c.kind.endswith("hiss"):
        where = "cut where the next word's hiss (fricative) begins"
    elif c.kind == "dip":
        where = "connected speech: cut at the energy dip between the words"
    elif c.kind == "fall":
        where = "connected speech: cut where the level falls between the words"
    elif c.next_onset is not None:
        where += f", next word's onset {c.next_onset:.3f} s"
    heard = chosen.heard.split()
    tail = " ".join(heard[-8:])
    a, b = clip.tone
    return TurnCut(
        id=f"{Path(clip.file).stem}_{label[0]}{k + 1:02d}",
        file=clip.file,
        cut_s=round(c.cut, 3),
        label="complete" if label == "complete" else "incomplete",
        prefix=" ".join(clip.words[: k + 1]),
        last_word=plain(clip.words[k]),
        next_word=plain(clip.words[k + 1]) if k + 1 < len(clip.words) else "",
        tone_start_s=round(a / RATE, 3),
        tone_end_s=round(b / RATE, 3),
        speaker=speaker_of(clip, k),
        category=clip.row["category"],
        notes="; ".join(
            [reason, where, f"Whisper on the cut: {'...' if len(heard) > 8 else ''}{tail!r}", *chosen.remarks]
        ),
    )


def write_table(path: Path, cuts: list[TurnCut]) -> None:
    """Write the cuts as TSV (no quoting: fields never hold tabs or newlines)."""
    lines = ["\t".join(COLUMNS)]
    for c in cuts:
        values: list[Any] = [getattr(c, name) for name in COLUMNS]
        fields = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
        for v in fields:
            if "\t" in v or "\n" in v:
                raise SystemExit(f"{c.id}: a field holds a tab or a newline: {v!r}")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_previews(folder: Path, cuts: list[TurnCut]) -> None:
    """Every cut as a WAV file, for listening."""
    folder.mkdir(parents=True, exist_ok=True)
    for c in cuts:
        pcm = cut_audio(c, FIXTURES, TAIL_S)
        with wave.open(str(folder / f"{c.id}_{c.label}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm.astype("<i2").tobytes())


if __name__ == "__main__":
    sys.exit(main())
