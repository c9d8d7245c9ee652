"""Secrets stay secret: no repr, log line, printed output, error or worker endpoint shows them.

The API key pair of a LiveKit server of the test's own, an OpenAI-compatible API key, an
end-to-end encryption key and every access token (JWT) are known values here. An offline
voice session and a worker running a voice session in an encrypted room use them for
real — the key goes out as a bearer header, the tokens are signed and accepted, the
audio is decrypted — while everything they print and log, their events and errors and
the worker's health, state and metrics pages are searched for them.
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import jwt
import msgspec
import pytest
from aiohttp import web
from livekit import api, rtc

import graphflow
import nodes
from graphflow.agent.mcp import MCPServer
from graphflow.agent.options import FileIO, Provider, SessionOptions
from graphflow.agent.pipeline import StageOverrides
from graphflow.agent.session import AgentSession
from graphflow.bench.standins import StandInSTT, StandInTTS
from graphflow.conversation.chat import ChatContext
from graphflow.conversation.events import AgentStoppedSpeaking
from graphflow.errors import ProviderError
from graphflow.livekit.room import E2EESettings, RoomConnectError, RoomSettings, connect_room
from graphflow.livekit.server import LiveKitServer, ServerOptions
from graphflow.models import ModelHub
from graphflow.redact import JWT, MASK, redacted_fields, safe_url, scrub
from graphflow.worker.job import JobContext
from graphflow.worker.protocol import AgentSocket, WorkerAuthError, worker_token
from graphflow.worker.serve import room_token
from graphflow.worker.settings import Permissions, ServerAccess, WorkerOptions
from graphflow.worker.worker import Worker
from graphs.room_agent import build_room_session
from nodes.llm.openai import OpenAIChat, OpenAIChatOptions
from nodes.room.source import RoomAudioSource
from tests.agent.completions_server import completions_server
from tests.fixtures import FIXTURES, model_cache
from tests.livekit.conftest import start_server
from tests.livekit.peer import Peer
from tests.livekit.test_worker import room_name, running
from tests.waiting import WAIT, until

LIVEKIT_KEY = "APIgfKeyQ7mW2xR9"
LIVEKIT_SECRET = "gf-livekit-secret-Zt4pVq8LmN2sK6wB0cY3hJ5dF7gR1eXa"
OPENAI_KEY = "sk-gf-openai-Hc81Lq0Rz5Tn3Vb7"
E2EE_KEY = "gf e2ee passphrase 6Wd2Kp9Ys4"
SECRETS = (LIVEKIT_KEY, LIVEKIT_SECRET, OPENAI_KEY, E2EE_KEY)
SPEECH = FIXTURES / "cmd_go_forward_ten_meters.wav"  # 2.8 s: "go forward ten meters"
ANSWER = "Going forward ten meters now."


def leaks(*texts: str) -> list[str]:
    """The secrets and access tokens found in ``texts`` (none, when all is well)."""
    found = [secret for text in texts for secret in SECRETS if secret in text]
    return found + [token for text in texts for token in JWT.findall(text)]


def sse_answer() -> bytes:
    """A streamed chat completion saying ``ANSWER``."""
    chunks = [{"choices": [{"index": 0, "delta": {"content": w + " "}}]} for w in ANSWER.split()]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


@pytest.fixture
async def llm_server() -> AsyncIterator[tuple[str, list[str]]]:
    """An OpenAI-compatible endpoint on loopback wanting ``OPENAI_KEY``: its URL, the bearer headers seen."""
    seen: list[str] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {OPENAI_KEY}":
            return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse_answer())
        await response.write_eof()
        return response

    async with completions_server(completions) as url:
        yield url, seen


def stand_ins() -> StageOverrides:
    """Scripted STT and a tone for TTS: the session's own VAD, turn detector and LLM client run."""
    return StageOverrides(
        stt=StandInSTT(["go forward ten meters"] * 3, name="stt"), tts=StandInTTS(name="tts")
    )


def session_texts(session: AgentSession) -> list[str]:
    """Everything a session shows of itself: events, errors, transcript, conversation."""
    return [repr(session.events), repr(session.errors), repr(session.transcript), repr(session.chat.messages)]


# ------------------------------------------------------------------------------ reprs
def holders() -> list[object]:
    """One of each settings struct that holds a secret, filled with the known secrets."""
    token = room_token(
        ServerAccess("ws://127.0.0.1:7880", LIVEKIT_KEY, LIVEKIT_SECRET), "r", "agent-1", Permissions()
    )
    return [
        ServerAccess("ws://127.0.0.1:7880", LIVEKIT_KEY, LIVEKIT_SECRET),
        ServerOptions(api_key=LIVEKIT_KEY, api_secret=LIVEKIT_SECRET),
        E2EESettings.shared(E2EE_KEY),
        RoomSettings(url="ws://127.0.0.1:7880", token=token, e2ee=E2EESettings.shared(E2EE_KEY)),
        MCPServer.http("https://tools.example/mcp", headers={"Authorization": f"Bearer {OPENAI_KEY}"}),
        MCPServer.stdio("tool-server", env={"TOOLS_API_KEY": OPENAI_KEY}),
        SessionOptions(llm=Provider.of("openai", OpenAIChatOptions(api_key=OPENAI_KEY))),
    ]


@pytest.mark.parametrize("holder", holders(), ids=lambda h: type(h).__name__)
def test_reprs_hide_secrets_and_encoding_keeps_them(holder: Any) -> None:
    shown = [repr(holder), str(holder), f"{holder}", repr(list(holder.__rich_repr__()))]
    assert leaks(*shown) == [] and MASK in shown[0]
    encoded = msgspec.json.encode(holder)
    assert msgspec.json.decode(encoded, type=type(holder)) == holder  # the real values travel


def test_an_empty_secret_shows_as_empty() -> None:
    assert (
        repr(ServerAccess("ws://h:7880", "", ""))
        == "ServerAccess(url='ws://h:7880', api_key='', api_secret='')"
    )


def test_text_urls_and_log_records_lose_their_secrets(caplog: pytest.LogCaptureFixture) -> None:
    token = room_token(ServerAccess("ws://h", LIVEKIT_KEY, LIVEKIT_SECRET), "r", "a", Permissions())
    assert scrub(f"refused {token} with {OPENAI_KEY}", OPENAI_KEY) == "refused *** with ***"
    assert (
        safe_url("https://me:pw@tools.example/mcp?key=abc&v=2")
        == "https://me:***@tools.example/mcp?key=***&v=***"
    )
    assert MCPServer.http(f"https://tools.example/mcp?api_key={OPENAI_KEY}").label.endswith("api_key=***")
    with caplog.at_level(logging.WARNING, logger="livekit"):
        logging.getLogger("livekit").warning("invalid token: %s", token)
    assert caplog.records[-1].getMessage() == "invalid token: ***"


SECRET_FIELDS = {"api_key", "api_secret", "secret", "token", "access_token", "password", "shared_key"}
SECRET_MAPPINGS = {"headers", "env"}


def settings_structs() -> Iterator[type[msgspec.Struct]]:
    """Every msgspec Struct of graphflow and its stages (each module imported) with a secret-looking field."""
    packages = [(graphflow.__path__, "graphflow."), (nodes.__path__, "nodes.")]
    for module in (m for path, prefix in packages for m in pkgutil.walk_packages(path, prefix)):
        if module.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except ImportError:  # an optional extra that is not installed
            continue
    todo, seen = list(msgspec.Struct.__subclasses__()), set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith(("graphflow.", "nodes.")) and (
            set(cls.__struct_fields__) & (SECRET_FIELDS | SECRET_MAPPINGS)
        ):
            yield cls


def test_every_settings_struct_with_a_secret_field_is_redacted() -> None:
    found = {cls.__name__: cls for cls in settings_structs()}
    expected = {"ServerAccess", "ServerOptions", "E2EESettings", "RoomSettings", "MCPHttp", "MCPStdio"}
    expected |= {"OpenAIChatOptions", "OpenAISTTOptions", "OpenAITTSOptions"}
    assert expected <= set(found)
    unredacted = [
        name
        for name, cls in found.items()
        if not set(cls.__struct_fields__) & (SECRET_FIELDS | SECRET_MAPPINGS) <= redacted_fields(cls)
    ]
    assert unredacted == [], f"settings that print their secrets: {sorted(unredacted)}"


# ------------------------------------------------------------------- offline session
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_an_offline_session_uses_the_api_key_and_never_shows_it(
    llm_server: tuple[str, list[str]], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    url, seen = llm_server
    llm = OpenAIChatOptions(base_url=url, model="test", api_key=OPENAI_KEY, timeout_s=10)
    options = SessionOptions(
        files=FileIO(input=str(SPEECH), tail_silence_ms=4000), llm=Provider.of("openai", llm)
    )
    session = AgentSession(options, hub=ModelHub(model_cache()), overrides=stand_ins())
    await session.run()
    assert seen and set(seen) == {f"Bearer {OPENAI_KEY}"}  # the key was used
    assert any(isinstance(e, AgentStoppedSpeaking) for e in session.events)  # and the agent answered

    # a wrong key: the error the session would report names the endpoint, not the key
    wrong = OpenAIChat(msgspec.structs.replace(llm, api_key=OPENAI_KEY[::-1]), name="llm")
    await wrong.setup()
    try:
        with pytest.raises(ProviderError) as refused:
            async for _ in wrong.stream(ChatContext("hello")):
                pass
    finally:
        await wrong.close()
    assert "401" in str(refused.value)

    out, err = capfd.readouterr()
    reversed_key = OPENAI_KEY[::-1]
    assert leaks(caplog.text, out, err, *session_texts(session), str(refused.value)) == []
    assert reversed_key not in caplog.text + out + err + str(refused.value)


# --------------------------------------------------------------------- worker and room
@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitServer]:
    """A server of the module's own, with the known API key pair."""
    server = start_server(
        tmp_path_factory.mktemp("secrets"), "keyed", api_key=LIVEKIT_KEY, api_secret=LIVEKIT_SECRET
    )
    try:
        yield server
    finally:
        server.stop()


def grants(token: str) -> dict[str, Any]:
    """The video grant of ``token``, checking that the known secret signed it."""
    claims = jwt.decode(token, LIVEKIT_SECRET, algorithms=["HS256"], options={"verify_aud": False})
    video: dict[str, Any] = claims.get("video", {})
    return video


async def pages(base: str) -> list[str]:
    """Status and body of the worker's three endpoints."""
    texts = []
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/worker", "/metrics"):
            async with http.get(base + path) as response:
                assert response.status == 200, path
                texts.append(await response.text())
    return texts


@pytest.mark.livekit
@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_a_worker_in_an_encrypted_room_never_shows_a_secret(
    keyed_server: LiveKitServer,
    llm_server: tuple[str, list[str]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEKIT_RTC_DEBUG", "1")  # the SDK's own debug logs too
    caplog.set_level(logging.DEBUG)
    url, seen = llm_server
    hub = ModelHub(model_cache())
    access = ServerAccess(keyed_server.url, LIVEKIT_KEY, LIVEKIT_SECRET)
    contexts: list[JobContext] = []
    sessions: list[AgentSession] = []

    async def entrypoint(ctx: JobContext) -> None:
        contexts.append(ctx)
        await ctx.connect(e2ee=E2EESettings.shared(E2EE_KEY))
        participant = await ctx.wait_for_participant(timeout_s=30)
        llm = OpenAIChatOptions(base_url=url, model="test", api_key=OPENAI_KEY, timeout_s=10)
        options = SessionOptions(llm=Provider.of("openai", llm))
        session = build_room_session(
            ctx.room, participant.identity, options=options, hub=hub, overrides=stand_ins()
        )
        sessions.append(session)
        ctx.run_session(session)

    def following() -> bool:
        if not sessions:
            return False
        source = next(n for n in sessions[0].graph.nodes() if isinstance(n, RoomAudioSource))
        return bool(source.track_sid)

    def answered() -> bool:
        return bool(sessions) and any(isinstance(e, AgentStoppedSpeaking) for e in sessions[0].events)

    worker = Worker(entrypoint, WorkerOptions(agent_name="keeper", health_port=0), access=access)
    async with running(worker):
        assert worker.health is not None
        room = room_name("secrets")
        caller = Peer(keyed_server, "caller", room)
        config = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name="keeper")])
        e2ee = rtc.RoomOptions(encryption=E2EESettings.shared(E2EE_KEY).to_sdk())
        await caller.join(e2ee, room_config=config)
        try:
            await caller.open_microphone()
            await until(following, "the agent to follow the caller's microphone", timeout=60)
            await caller.speak(SPEECH, tail_ms=500)
            await until(answered, "the agent's answer", timeout=WAIT)
            await until(
                lambda: caller.heard.get(f"agent-{contexts[0].job_id}") is not None, "the answer heard"
            )
            shown = await pages(worker.health.url)
        finally:
            await caller.leave()
        await until(lambda: not worker.jobs, "the job to end after the caller left", timeout=40)

        # a wrong secret and a forged room token: refused, and the errors show neither
        with pytest.raises(WorkerAuthError) as refused:
            wrong = ServerAccess(keyed_server.url, LIVEKIT_KEY, LIVEKIT_SECRET[::-1])
            await AgentSocket.open(wrong, worker_token(wrong))
        forged = room_token(wrong, room_name("forged"), "intruder", Permissions())
        with pytest.raises(RoomConnectError) as rejected:
            await connect_room(RoomSettings(url=keyed_server.url, token=forged))

    assert set(seen) == {f"Bearer {OPENAI_KEY}"}
    assert "graphflow_jobs_total" in shown[2] and '"connected":true' in shown[1].replace(" ", "")
    out, err = capfd.readouterr()
    everything = [
        caplog.text,
        out,
        err,
        *shown,
        *session_texts(sessions[0]),
        repr(worker.access),
        repr(worker.outcomes),
        repr(worker.info()),
        str(refused.value),
        str(rejected.value),
        rejected.value.detail,
    ]
    assert leaks(*everything) == []
    assert LIVEKIT_SECRET[::-1] not in "".join(everything)
    assert [o.status for o in worker.outcomes] == ["success"]

    # least privilege: the worker's token only registers; the job's joins one room and no more
    assert {k for k, v in grants(worker_token(access)).items() if v} == {"agent"}
    job = grants(contexts[0].token)
    assert job["room"] == contexts[0].room_name and job["roomJoin"] and job["agent"]
    admin = ("roomCreate", "roomList", "roomRecord", "roomAdmin", "ingressAdmin", "canUpdateOwnMetadata")
    assert not any(job.get(k) for k in admin), job
    assert grants(room_token(access, "r", "agent-1", Permissions())) == {
        "roomJoin": True,
        "room": "r",
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
        "canUpdateOwnMetadata": False,
        "hidden": False,
        "agent": True,
    }
