// What the worker's live view sends (graphflow/playground/snapshot.py and drawing.py).

export const STATS_TOPIC = "graphflow.stats";
export const GRAPH_TOPIC = "graphflow.graph";
export const VIEW_ATTRIBUTE = "graphflow.view";
export const CHAT_TOPIC = "lk.chat";
export const TRANSCRIPTION_TOPIC = "lk.transcription";

/** frames handled, frames per second, mean handler time in ms (-1: not traced) */
export type NodeFigures = [number, number, number];
/** frames per second, queue depth, capacity (0: fused), drops so far */
export type EdgeFigures = [number, number, number, number];

export interface CancelFigures {
  trigger: string;
  reason: string;
  targets: string[];
  flushed: number;
  propagation_ms: number;
}

export interface TurnFigures {
  reply_id: string;
  vad_ms?: number | null;
  end_of_turn_ms?: number | null;
  transcript_ms?: number | null;
  llm_ttft_ms?: number | null;
  tts_ttfb_ms?: number | null;
  sink_ms?: number | null;
  voice_to_voice_ms?: number | null;
}

export interface Snapshot {
  v: number;
  seq: number;
  wall: number;
  engine_ms: number;
  nodes: Record<string, NodeFigures>;
  edges: Record<string, EdgeFigures>;
  cancels: CancelFigures[];
  turns: TurnFigures[];
  user: string;
  agent: string;
  cancellations: number;
  dropped: number;
}

export interface DrawnGraph {
  v: number;
  name: string;
  nodes: string[];
  edges: { label: string; src: string; dst: string; queue: string }[];
  cancels: { trigger: string; target: string }[];
  svg: string;
}

export interface TokenAnswer {
  url: string;
  room: string;
  identity: string;
  token: string;
}

export interface WorkerStatus {
  state: "up" | "starting" | "down" | "unknown";
  detail: string;
}

export async function fetchToken(room: string): Promise<TokenAnswer> {
  const answer = await fetch("/api/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ room }),
  });
  if (!answer.ok) throw new Error(`token: ${answer.status} ${await answer.text()}`);
  return (await answer.json()) as TokenAnswer;
}

export async function fetchStatus(): Promise<WorkerStatus> {
  try {
    const answer = await fetch("/api/status", { cache: "no-store" });
    if (!answer.ok) return { state: "unknown", detail: `status ${answer.status}` };
    return (await answer.json()) as WorkerStatus;
  } catch {
    return { state: "down", detail: "the playground server does not answer" };
  }
}
