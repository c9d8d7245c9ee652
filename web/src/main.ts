// The playground page: wires the room, the live figures and the panels together.

import type { Room, TextStreamReader } from "livekit-client";
import { Connection } from "./connection";
import { GraphView } from "./graph";
import {
  CHAT_TOPIC,
  type DrawnGraph,
  fetchStatus,
  GRAPH_TOPIC,
  type Snapshot,
  type TokenAnswer,
  STATS_TOPIC,
  TRANSCRIPTION_TOPIC,
  VIEW_ATTRIBUTE,
  type WorkerStatus,
} from "./messages";
import { banner, byId, cancelled, pill, Transcript, waterfall } from "./panels";

const STATUS_EVERY_MS = 2000;
const NO_AGENT_AFTER_MS = 30000;
const MIC_FALLBACK_MS = 8000;

const graph = new GraphView(byId("graph"));
const transcript = new Transcript();
const decoder = new TextDecoder();
const params = new URLSearchParams(location.search);
let worker: WorkerStatus = { state: "unknown", detail: "" };
let micProblem = "";
let agentSince = 0;
let agentLeft = false; // the agent was in this room and went (its worker stopped, say)
let upAtJoin = false; // the worker was registered when this room was made (so it was dispatched one)
let joinedAt = 0;
let lastSeq = 0;
let delayMs = 0;
let typed = 0;

const connection = new Connection(
  {
    state: (text, tone) => pill("conn", `room: ${text}`, tone),
    joined: onJoined,
    microphone: (problem) => {
      micProblem = problem;
      byId("mic-retry").hidden = !problem;
      byId("mic-retry").dataset.problem = problem;
      refreshBanner();
    },
    audioBlocked: (blocked) => {
      byId("unmute").hidden = !blocked;
    },
    agentJoined: (agent) => {
      if (!agent && agentSince) agentLeft = true;
      agentSince = agent ? Date.now() : 0;
      // an agent without a live view sends no graph: open the microphone after a while anyway
      if (agent) setTimeout(() => void connection.enableMicrophone(), MIC_FALLBACK_MS);
      pill("agent-state", agent ? "agent: listening" : "agent: not here", agent ? "" : "away");
      refreshBanner();
    },
  },
  params.get("room") ?? "",
);

function onJoined(room: Room, token: TokenAnswer): void {
  joinedAt = Date.now();
  agentLeft = false;
  upAtJoin = worker.state === "up" || worker.state === "unknown";
  graph.clear();
  document.body.dataset.identity = token.identity;
  document.body.dataset.room = room.name;
  document.body.dataset.joins = String(Number(document.body.dataset.joins ?? 0) + 1);
  console.info(`playground: joined ${room.name} as ${token.identity}`);
  lastSeq = 0;
  byId("room-name").textContent = `room ${room.name}`;
  room.registerTextStreamHandler(TRANSCRIPTION_TOPIC, (reader, from) => void onTranscription(room, reader, from.identity));
  room.registerTextStreamHandler(GRAPH_TOPIC, (reader) => void onGraph(reader));
  room.on("dataReceived", (payload: Uint8Array, _p: unknown, _k: unknown, topic?: string) => {
    if (topic === STATS_TOPIC) onSnapshot(JSON.parse(decoder.decode(payload)) as Snapshot);
  });
}

async function onTranscription(room: Room, reader: TextStreamReader, sender: string): Promise<void> {
  const text = await reader.readAll();
  const attrs = reader.info.attributes ?? {};
  const track = attrs["lk.transcribed_track_id"] ?? "";
  const mine =
    sender === room.localParticipant.identity ||
    [...room.localParticipant.trackPublications.values()].some((p) => p.trackSid === track);
  const segment = attrs["lk.segment_id"] ?? reader.info.id;
  transcript.segment(segment, mine ? "user" : "agent", text, attrs["lk.transcription_final"] === "true");
}

async function onGraph(reader: TextStreamReader): Promise<void> {
  graph.show(JSON.parse(await reader.readAll()) as DrawnGraph);
  await connection.enableMicrophone(); // the graph comes from a running session: the agent listens
}

function onSnapshot(snap: Snapshot): void {
  if (snap.seq <= lastSeq && lastSeq - snap.seq < 1000) return; // a late packet: newer figures are shown
  lastSeq = snap.seq;
  delayMs = delayMs ? 0.8 * delayMs + 0.2 * (Date.now() - snap.wall) : Date.now() - snap.wall;
  const delay = byId("view-delay");
  delay.textContent = `snapshot ${snap.seq} · ${delayMs.toFixed(0)} ms behind the engine`;
  delay.dataset.delayMs = delayMs.toFixed(1);
  delay.dataset.seq = String(snap.seq);
  graph.update(snap);
  for (const cancel of snap.cancels) cancelled(cancel);
  for (const turn of snap.turns) waterfall(turn);
  pill("user-state", `you: ${snap.user}`, snap.user);
  pill("agent-state", `agent: ${snap.agent}`, snap.agent);
}

function refreshBanner(): void {
  const room = connection.room;
  if (worker.state === "down") {
    banner(`The agent's worker is not running (${worker.detail}). Waiting for it; checking every 2 s.`, true);
  } else if (worker.state === "starting") {
    banner("The agent's worker is starting (loading models, registering with the server)…");
  } else if (room && !connection.agent() && Date.now() - joinedAt > 6000) {
    banner("No agent has joined this room yet. Waiting for it…");
  } else if (micProblem) {
    banner(micProblem, true);
  } else {
    banner("");
  }
}

async function watchWorker(): Promise<void> {
  for (;;) {
    worker = await fetchStatus();
    document.body.dataset.worker = worker.state;
    const tone = { up: "ok", starting: "warn", down: "bad", unknown: "" }[worker.state];
    pill("worker", `worker: ${worker.state}`, tone);
    refreshBanner();
    // a room made while no worker was registered, or one its agent left, gets no agent: once the
    // worker is up, start a fresh room (and one whose dispatch never came, after a long wait)
    const stranded = !upAtJoin || agentLeft || Date.now() - joinedAt > NO_AGENT_AFTER_MS;
    if (worker.state === "up" && connection.room && !connection.agent() && stranded) {
      console.info("playground: the worker is up but no agent came: joining a fresh room");
      await connection.leave();
      await connection.join(true);
    }
    await new Promise((resolve) => setTimeout(resolve, STATUS_EVERY_MS));
  }
}

byId<HTMLFormElement>("chat").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>("chat-input");
  const text = input.value.trim();
  if (!text || !connection.room) return;
  input.value = "";
  typed += 1;
  transcript.segment(`typed-${typed}`, "user", text, true);
  void connection.room.localParticipant.sendText(text, { topic: CHAT_TOPIC });
});
byId("unmute").addEventListener("click", () => void connection.room?.startAudio());
byId("mic-retry").addEventListener("click", () => void connection.enableMicrophone());
byId<HTMLInputElement>("live").addEventListener("change", (event) => {
  const on = (event.target as HTMLInputElement).checked;
  void connection.room?.localParticipant.setAttributes({ [VIEW_ATTRIBUTE]: on ? "1" : "0" });
});
window.addEventListener("beforeunload", () => void connection.leave());

// the worker's state first: a room is only worth waiting in if a worker was there to take it
void fetchStatus().then((status) => {
  worker = status;
  void watchWorker();
  void connection.join();
});
