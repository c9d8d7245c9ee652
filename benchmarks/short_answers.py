"""Short answers through the voice agent: one word alone, quiet or in noise, against Whisper alone.

Five one-word clips from the repository (``yes``, ``right``, ``left``, ``up``, ``down``:
Google Speech Commands, other speakers than the rest of the fixtures), each said alone
with 0.5 s of silence before and 1 s after, at 0, -12 and -24 dB, clean and with the
dish clatter of ``neg_noise_only_dishes.wav`` mixed in at 10 dB SNR; and the clatter
alone at three levels, which must give no words. Each goes through the whole listening
half of the voice agent with its defaults (Silero VAD, Whisper base in its windows, the
fused turn detector) on a virtual clock, and, as the baseline in the same run, through
the same Whisper base on the whole clip with faster-whisper's stock settings (30 s
window, its own no-speech rule).

Reported per clip: the agent's turns and Whisper's whole-clip text; in sum: how many
words were heard at all (a turn with any text), how many as the word said, and the
words made up from noise.
``make bench-short`` runs it and writes ``docs/results/short_answers.json`` and
``docs/img/short-answers.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphflow.agent.options import FileIO, SessionOptions  # noqa: E402
from graphflow.agent.session import AgentSession  # noqa: E402
from graphflow.conversation.events import TurnEnded  # noqa: E402
from graphflow.models import ModelHub  # noqa: E402
from graphflow.runtime.clock import VirtualClock  # noqa: E402
from nodes.stt.whisper import WhisperEngine  # noqa: E402

FIXTURES = ROOT / "benchmarks" / "fixtures"
RATE = 16_000
GAINS_DB = (0, -12, -24)
SNR_DB = 10.0
NOISE_GAINS_DB = (0, -12, -24)


def read(name: str) -> np.ndarray:
    """A fixture's samples as float32 in int16 units (16 kHz mono)."""
    with wave.open(str(FIXTURES / name)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)


def words() -> dict[str, np.ndarray]:
    """The one-word clips, by the word said."""
    three = read("cmd_right_left_up.wav")  # three one-second Speech Commands clips
    clips = {"yes": read("cmd_yes.wav"), "down": read("cmd_down.wav")}
    for i, word in enumerate(("right", "left", "up")):
        clips[word] = three[i * RATE : (i + 1) * RATE]
    return clips


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (never 0)."""
    return float(np.sqrt(np.mean(np.square(x))) + 1e-9)


def cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Every clip to play: the word (``''`` for noise alone), its condition and its samples."""
    noise = read("neg_noise_only_dishes.wav")
    out: list[dict[str, Any]] = []
    for word, clip in words().items():
        for gain in GAINS_DB:
            for snr in (None, SNR_DB):
                speech = clip * 10 ** (gain / 20)
                pcm = np.concatenate([np.zeros(RATE // 2, np.float32), speech, np.zeros(RATE, np.float32)])
                if snr is not None:
                    at = int(rng.integers(0, noise.shape[0] - pcm.shape[0]))
                    part = noise[at : at + pcm.shape[0]]
                    pcm = pcm + part * (rms(speech) / rms(part)) * 10 ** (-snr / 20)
                out.append({"word": word, "gain_db": gain, "snr_db": snr, "pcm": pcm})
    for gain in NOISE_GAINS_DB:
        out.append({"word": "", "gain_db": gain, "snr_db": None, "pcm": noise * 10 ** (gain / 20)})
    return out


def agent_turns(hub: ModelHub, pcm: np.ndarray) -> list[str]:
    """The turns the voice agent's listening half ends on ``pcm`` (virtual clock)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(np.clip(pcm, -32768, 32767).astype("<i2").tobytes())
        session = AgentSession(SessionOptions(files=FileIO(input=str(path))), hub=hub)
        clock = VirtualClock()
        clock.run(session.run(clock))
    return [e.text for e in session.events if isinstance(e, TurnEnded) and e.text.strip()]


def whole_clip(engine: WhisperEngine, pcm: np.ndarray) -> str:
    """Whisper base on the whole clip, faster-whisper's stock settings (greedy, English)."""
    audio = np.clip(pcm, -32768, 32767) / 32768.0
    segments, _ = engine.model.transcribe(
        audio.astype(np.float32),
        language="en",
        beam_size=1,
        vad_filter=False,
        condition_on_previous_text=False,
    )
    return "".join(s.text for s in segments).strip()


def said(word: str, texts: list[str]) -> bool:
    """One of ``texts`` is ``word`` (case and punctuation aside)."""
    return any(word in t.lower().replace(",", " ").replace(".", " ").replace("!", " ").split() for t in texts)


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Heard at all, heard right, and words from noise, for the agent or the baseline."""
    spoken = [r for r in rows if r["word"]]
    noise = [r for r in rows if not r["word"]]
    by = {
        cond: [r for r in spoken if (r["snr_db"] is None) == (cond == "clean")] for cond in ("clean", "noisy")
    }
    return {
        "clips": len(spoken),
        "heard": sum(bool(r[key]) for r in spoken),
        "right": sum(said(r["word"], r[key]) for r in spoken),
        **{f"heard_{c}": sum(bool(r[key]) for r in rs) for c, rs in by.items()},
        **{f"right_{c}": sum(said(r["word"], r[key]) for r in rs) for c, rs in by.items()},
        "noise_clips": len(noise),
        "noise_with_words": sum(bool(r[key]) for r in noise),
    }


def plot(scores: dict[str, dict[str, Any]], path: Path) -> None:
    """Bars: words heard and heard right, clean and in noise, agent against Whisper alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["heard, clean", "right, clean", "heard, noisy", "right, noisy"]
    keys = ["heard_clean", "right_clean", "heard_noisy", "right_noisy"]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, (name, s) in enumerate(scores.items()):
        ax.bar(x + (i - 0.5) * 0.38, [s[k] for k in keys], 0.38, label=name)
    ax.set_xticks(x, labels)
    ax.set_ylabel("clips (of 15 each)")
    ax.set_ylim(0, 19)
    ax.set_title("One-word answers: the voice agent against Whisper base on the whole clip")
    ax.legend(loc="upper center", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Run every clip through both, print the table, write JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write every clip's result and the sums here")
    parser.add_argument("--plot", type=Path, help="write the bar plot here (PNG)")
    parser.add_argument("--seed", type=int, default=0, help="where in the noise each clip's noise starts")
    args = parser.parse_args(argv)
    hub = ModelHub()
    engine = WhisperEngine(hub.cache.path("whisper-base"), cpu_threads=2)
    engine.load()
    rows: list[dict[str, Any]] = []
    print(f"{'word':6} {'gain':>5} {'noise':>6}  {'voice agent':28} whisper alone")
    for case in cases(np.random.default_rng(args.seed)):
        pcm = case.pop("pcm")
        alone = whole_clip(engine, pcm)
        row = {**case, "agent": agent_turns(hub, pcm), "whole_clip": [alone] if alone else []}
        rows.append(row)
        noise = "none" if row["snr_db"] is None else f"{row['snr_db']:.0f} dB"
        print(
            f"{row['word'] or '(noise)':6} {row['gain_db']:>5} {noise:>6}  "
            f"{' / '.join(row['agent']) or '-':28} {' / '.join(row['whole_clip']) or '-'}"
        )
    scores = {"voice agent": summary(rows, "agent"), "Whisper base, whole clip": summary(rows, "whole_clip")}
    print()
    print(f"{'':26} {'voice agent':>12} {'whole clip':>12}")
    for key in ("heard_clean", "right_clean", "heard_noisy", "right_noisy", "noise_with_words"):
        a, b = scores["voice agent"], scores["Whisper base, whole clip"]
        total = a["noise_clips"] if key == "noise_with_words" else a["clips"] // 2
        print(f"{key.replace('_', ' '):26} {a[key]:>9}/{total:<2} {b[key]:>9}/{total:<2}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seed": args.seed, "scores": scores, "clips": rows}, indent=1))
        print(f"wrote {args.json}")
    if args.plot:
        plot(scores, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
