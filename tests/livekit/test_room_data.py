"""Room connection, data packets through a graph, typed RPC and end-to-end encryption, on a real server."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import numpy as np
import pytest
from livekit import api, rtc
from livekit.rtc._ffi_client import FfiClient

from graphflow import Graph, RunOptions
from graphflow.frames import DataPacket
from graphflow.livekit.room import E2EESettings, RoomConnectError, RoomSettings, connect_room
from graphflow.livekit.rpc import (
    RpcCallError,
    RpcContext,
    RpcErrorCode,
    RpcMethods,
    call_method,
    error_data,
)
from graphflow.livekit.server import LiveKitServer, free_port
from graphflow.runtime.events import NodeIssue, RunEvent, RunStarted
from nodes.memory import FrameSink, FrameSource
from nodes.room.data import RoomDataSink, RoomDataSource, RoomDataSourceOptions
from tests.livekit.peer import Peer, token
from tests.waiting import WAIT, until

pytestmark = pytest.mark.livekit


async def agent_room(
    server: LiveKitServer, room: str, identity: str = "agent", **settings: object
) -> rtc.Room:
    """The agent side: joins through connect_room."""
    jwt = token(server, identity, room)
    opts = RoomSettings(url=server.url, token=jwt, **settings)  # type: ignore[arg-type]
    return await asyncio.wait_for(connect_room(opts), WAIT)


class Issues:
    """Collects the NodeIssue events of a run, and whether it started."""

    def __init__(self) -> None:
        self.issues: list[NodeIssue] = []
        self.started = False

    def on_event(self, event: RunEvent) -> None:
        """Keep issues; note the start."""
        if isinstance(event, NodeIssue):
            self.issues.append(event)
        self.started = self.started or isinstance(event, RunStarted)


def inbox(room: rtc.Room) -> list[rtc.DataPacket]:
    """Every data packet ``room`` receives from now on."""
    got: list[rtc.DataPacket] = []
    room.on("data_received", got.append)
    return got


def packet(
    payload: bytes, *, reliable: bool = True, topic: str = "t", to: tuple[str, ...] = ()
) -> DataPacket:
    """A data packet frame to send."""
    return DataPacket(payload=payload, reliable=reliable, topic=topic, destinations=to)


def test_data_packets_flow_both_ways_and_oversized_ones_are_refused(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name = "data-both-ways"
        agent = await agent_room(livekit_server, room_name)
        bob = await asyncio.wait_for(Peer(livekit_server, "bob", room_name).join(), WAIT)
        carol = await asyncio.wait_for(Peer(livekit_server, "carol", room_name).join(), WAIT)
        try:
            await until(lambda: {"bob", "carol"} <= set(agent.remote_participants), "agent to see the peers")
            bob_got, carol_got = inbox(bob.room), inbox(carol.room)
            outgoing = [
                packet(b"hello bob", topic="greeting", to=("bob",)),
                packet(b"r" * 15360),  # reliable, exactly the limit: sent
                packet(b"R" * 15361),  # one byte over: refused
                packet(b"l" * 1300, reliable=False),  # lossy, exactly the limit: sent
                packet(b"L" * 1301, reliable=False),  # one byte over: refused
                packet(b"after", topic="done"),  # the sink still works after refusing
            ]
            source = RoomDataSource(RoomDataSourceOptions(topics=("chat",)), room=agent)
            received, sink = FrameSink(), RoomDataSink(room=agent)
            g = Graph("room-data")
            g.chain(source, received)
            g.chain(FrameSource(outgoing, frame_type=DataPacket), sink)
            issues = Issues()
            runner = g.compile().runner(RunOptions(observers=(issues,)))
            run = asyncio.create_task(runner.run())
            try:
                await until(lambda: len(bob_got) >= 4, "bob to get the four packets within the limits")
                await until(lambda: any(p.data == b"after" for p in carol_got), "carol to get the broadcast")
                await bob.room.local_participant.publish_data(b"one", topic="chat")
                await bob.room.local_participant.publish_data(b"ignored", topic="other")
                await bob.room.local_participant.publish_data(b"two", topic="chat", reliable=False)
                await until(lambda: len(received.frames) >= 2, "the source to emit bob's chat packets")
                await until(lambda: source.filtered >= 1, "the source to see the other topic")
            finally:
                runner.stop()
                await asyncio.wait_for(run, WAIT)

            sizes = sorted(len(p.data) for p in bob_got)
            assert sizes == [5, len(b"hello bob"), 1300, 15360]
            hello = next(p for p in bob_got if p.data == b"hello bob")
            assert hello.topic == "greeting" and hello.participant is not None
            assert hello.participant.identity == "agent"
            lossy = next(p for p in bob_got if len(p.data) == 1300)
            assert lossy.kind == rtc.DataPacketKind.KIND_LOSSY
            assert b"hello bob" not in [p.data for p in carol_got]  # sent to bob only
            assert (sink.sent, sink.refused, sink.failed) == (4, 2, 0)
            refused = [i for i in issues.issues if i.code == "frame.data_too_large"]
            assert len(refused) == 2
            assert "15361 bytes" in refused[0].message and "15360-byte limit" in refused[0].message
            assert "1301 bytes" in refused[1].message and "1300-byte limit" in refused[1].message

            # reliable and lossy packets travel on two data channels: their order may swap
            frames = sorted(
                (f for f in received.frames if isinstance(f, DataPacket)), key=lambda f: f.payload
            )
            assert [(f.payload, f.topic, f.sender) for f in frames] == [
                (b"one", "chat", "bob"),
                (b"two", "chat", "bob"),
            ]
            assert frames[0].reliable and not frames[1].reliable
            assert source.filtered == 1 and source.dropped == 0
        finally:
            await bob.leave()
            await carol.leave()
            await agent.disconnect()

    asyncio.run(main())


def test_source_queue_drops_oldest_and_ends_when_the_room_disconnects(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        agent = await agent_room(livekit_server, "data-overflow")
        source = RoomDataSource(RoomDataSourceOptions(max_queued=2), room=agent)
        received = FrameSink()
        issues = Issues()
        runner = Graph("overflow").chain(source, received).compile().runner(RunOptions(observers=(issues,)))
        run = asyncio.create_task(runner.run())
        try:
            await until(lambda: issues.started, "the run to start")
            for i in range(5):  # all in one go: the graph cannot take any before the queue is full
                agent.emit(
                    "data_received", rtc.DataPacket(str(i).encode(), rtc.DataPacketKind.KIND_RELIABLE, None)
                )
            await until(lambda: len(received.frames) >= 2, "the newest two packets")
            await agent.disconnect()  # ends the source's stream, and so the run
            await asyncio.wait_for(run, WAIT)
        finally:
            if not run.done():
                runner.stop(drain=False)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(run, WAIT)
            await agent.disconnect()
        assert [f.payload for f in received.frames if isinstance(f, DataPacket)] == [b"3", b"4"]
        assert source.dropped == 3 and source.received == 5
        assert [i.code for i in issues.issues] == ["frame.data_dropped", "frame.data_dropped"]

    asyncio.run(main())


class AddRequest(msgspec.Struct, frozen=True):
    """The request of the test's ``add`` method."""

    a: int
    b: int


class AddAnswer(msgspec.Struct, frozen=True):
    """The answer of the test's ``add`` method."""

    sum: int
    caller: str


def test_rpc_typed_methods_structured_errors_and_timeouts(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name = "rpc"
        agent = await agent_room(livekit_server, room_name)
        bob = await asyncio.wait_for(Peer(livekit_server, "bob", room_name).join(), WAIT)
        methods = RpcMethods(agent)
        try:

            @methods.method("add", AddRequest)
            async def add(request: AddRequest, call: RpcContext) -> AddAnswer:
                return AddAnswer(sum=request.a + request.b, caller=call.caller_identity)

            async def boom(request: AddRequest, call: RpcContext) -> str:
                raise ValueError("internal detail that stays on the agent")

            async def slow(request: AddRequest, call: RpcContext) -> str:
                await asyncio.sleep(30)
                return "too late"

            methods.register("boom", AddRequest, boom)
            methods.register("slow", AddRequest, slow, timeout_s=0.5)
            await until(lambda: "agent" in bob.room.remote_participants, "bob to see the agent")

            async def raw(method: str, payload: str) -> rtc.RpcError:
                with pytest.raises(rtc.RpcError) as caught:
                    await asyncio.wait_for(
                        bob.room.local_participant.perform_rpc(
                            destination_identity="agent", method=method, payload=payload, response_timeout=10
                        ),
                        WAIT,
                    )
                return caught.value

            answer = await call_method(bob.room, "agent", "add", AddRequest(a=2, b=3), response=AddAnswer)
            assert answer == AddAnswer(sum=5, caller="bob")

            not_json = await raw("add", "this is not json")
            assert not_json.code == RpcErrorCode.INVALID_PAYLOAD
            assert "not valid JSON" in not_json.message
            data = error_data(not_json)
            assert data is not None and data.code == "rpc.invalid_payload" and data.method == "add"

            wrong_type = await raw("add", '{"a": "two", "b": 3}')
            assert wrong_type.code == RpcErrorCode.INVALID_PAYLOAD and "$.a" in wrong_type.message
            data = error_data(wrong_type)
            assert data is not None and data.field == "$.a"

            missing = await raw("add", '{"a": 1}')
            assert "`b`" in missing.message
            data = error_data(missing)
            assert data is not None and data.field == "$.b"

            failed = await raw("boom", '{"a": 1, "b": 2}')
            assert failed.code == rtc.RpcError.ErrorCode.APPLICATION_ERROR
            assert "internal detail" not in failed.message
            data = error_data(failed)
            assert data is not None and data.code == "rpc.handler_failed"

            late = await raw(
                "slow", '{"a": 1, "b": 2}'
            )  # the caller would wait 10 s; the method gives up first
            assert late.code == rtc.RpcError.ErrorCode.RESPONSE_TIMEOUT
            data = error_data(late)
            assert data is not None and data.code == "rpc.handler_timeout"

            # the agent kept answering through all of that
            again = await call_method(bob.room, "agent", "add", '{"a": 40, "b": 2}', response=AddAnswer)
            assert again.sum == 42
            assert (
                await call_method(bob.room, "agent", "add", '{"a": 1, "b": 1}') == '{"sum":2,"caller":"bob"}'
            )

            with pytest.raises(RpcCallError) as bad:
                await call_method(bob.room, "agent", "add", '{"a": []}', response=AddAnswer)
            assert bad.value.code == "livekit.rpc_invalid_payload" and bad.value.rpc_code == 2400
            assert bad.value.data is not None and bad.value.data.field == "$.a"

            methods.unregister("boom")
            with pytest.raises(RpcCallError) as gone:
                await call_method(bob.room, "agent", "boom", AddRequest(a=1, b=1), timeout_s=5)
            assert gone.value.code == "livekit.rpc_unsupported_method"
            with pytest.raises(RpcCallError) as nobody:
                await call_method(bob.room, "nobody", "add", AddRequest(a=1, b=1), timeout_s=2)
            assert nobody.value.code in ("livekit.rpc_recipient_not_found", "livekit.rpc_timeout")

            stats = methods.stats("add")
            assert (stats.answered, stats.invalid) == (3, 4)
            assert methods.stats("slow").timed_out == 1
        finally:
            methods.close()
            await bob.leave()
            await agent.disconnect()

    asyncio.run(main())


async def publish_tone(room: rtc.Room, seconds: float = 3.0, rate: int = 48000) -> None:
    """Publish a loud 440 Hz tone as the microphone, at real-time pace."""
    source = rtc.AudioSource(rate, 1)
    track = rtc.LocalAudioTrack.create_audio_track("tone", source)
    opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, opts)
    step = rate // 100
    t = np.arange(int(seconds * rate)) / rate
    pcm = (12000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    for first in range(0, len(pcm) - step + 1, step):
        await source.capture_frame(rtc.AudioFrame(pcm[first : first + step].tobytes(), rate, 1, step))
    await source.wait_for_playout()


def test_e2ee_participants_with_the_same_key_hear_each_other(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        room_name, key = "e2ee", "a passphrase both sides know"
        e2ee = E2EESettings.shared(key)
        listener = Peer(livekit_server, "listener", room_name)
        await asyncio.wait_for(listener.join(rtc.RoomOptions(encryption=e2ee.to_sdk())), WAIT)
        speaker = await agent_room(livekit_server, room_name, "speaker", e2ee=e2ee)

        def loud_frames() -> list[float]:
            heard = listener.heard.get("speaker")
            return heard.loud_at(2000) if heard is not None else []

        try:
            assert speaker.e2ee_manager.enabled
            await asyncio.wait_for(publish_tone(speaker), WAIT)
            await until(lambda: len(loud_frames()) >= 20, "the tone to be heard")
            remote = listener.room.remote_participants["speaker"]
            assert all(
                p.encryption_type == rtc.EncryptionType.GCM for p in remote.track_publications.values()
            )
            peak = np.abs(listener.heard["speaker"].samples()).max()
            assert peak > 6000  # the tone decoded, not noise from frames that failed to decrypt
        finally:
            await listener.leave()
            await speaker.disconnect()

    asyncio.run(main())


async def connect_error(url: str, jwt: str, **settings: object) -> RoomConnectError:
    """The error connect_room raises for these settings."""
    opts = RoomSettings(url=url, token=jwt, **settings)  # type: ignore[arg-type]
    with pytest.raises(RoomConnectError) as caught:
        await asyncio.wait_for(connect_room(opts), WAIT)
    return caught.value


async def timed_out_connect(jwt: str) -> RoomConnectError:
    """Connect to a server that accepts connections and never answers, with a 1 s timeout.

    The SDK goes on with its own attempt after the timeout; the test waits for that
    attempt to end (the connections are closed to hurry it) so nothing is left running.
    """
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    ffi_events = FfiClient.instance.queue.subscribe(filter_fn=lambda e: e.WhichOneof("message") == "connect")
    try:
        port = silent.sockets[0].getsockname()[1]
        error = await connect_error(f"ws://127.0.0.1:{port}", jwt, connect_timeout_s=1.0)
        silent.close()
        for writer in accepted:
            writer.transport.abort()
        await asyncio.wait_for(ffi_events.get(), 60)  # the SDK's own attempt has given up
        return error
    finally:
        FfiClient.instance.queue.unsubscribe(ffi_events)
        silent.close()


def test_connect_room_explains_why_it_cannot_join(livekit_server: LiveKitServer) -> None:
    async def main() -> None:
        server, opts = livekit_server, livekit_server.options
        no_join = api.AccessToken(opts.api_key, opts.api_secret).with_identity("x")
        no_join = no_join.with_grants(api.VideoGrants(room="r", room_join=False))
        denied = await connect_error(server.url, no_join.to_jwt())
        assert denied.code == "livekit.permission_denied" and "room_join" in denied.hint
        assert not denied.retryable

        forged = api.AccessToken(opts.api_key, "not-the-server-secret-at-all").with_identity("x")
        forged_jwt = forged.with_grants(api.VideoGrants(room="r", room_join=True)).to_jwt()
        invalid = await connect_error(server.url, forged_jwt)
        assert invalid.code == "livekit.invalid_token" and "secret" in invalid.hint
        assert forged_jwt not in str(invalid) and forged_jwt not in invalid.detail  # tokens stay secret

        garbage = await connect_error(server.url, "not-a-token")
        assert garbage.code == "livekit.invalid_token"

        nowhere = await connect_error(f"ws://127.0.0.1:{free_port()}", token(server, "x", "r"))
        assert nowhere.code == "livekit.unreachable" and nowhere.retryable

        bad_url = await connect_error("127.0.0.1:7880", token(server, "x", "r"))
        assert bad_url.code == "livekit.bad_url"

        stuck = await timed_out_connect(token(server, "x", "r"))
        assert stuck.code == "livekit.connect_timeout" and stuck.retryable

    asyncio.run(main())


def test_settings_keep_secrets_out_of_reprs() -> None:
    settings = RoomSettings(
        url="ws://h:7880", token="eyJhbGciOi.payload.signature", e2ee=E2EESettings.shared(b"k")
    )
    assert "eyJ" not in repr(settings) and "k'" not in repr(settings.e2ee)
    assert settings.room_options().encryption is not None
    with pytest.raises(RoomConnectError):
        E2EESettings.shared("")
