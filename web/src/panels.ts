// The page's panels: status pills, the banner, the transcript, turn waterfalls, barge-ins.

import type { CancelFigures, TurnFigures } from "./messages";

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

export function pill(id: string, text: string, tone = ""): void {
  const el = byId(id);
  el.textContent = text;
  el.className = `pill ${tone}`.trim();
  el.dataset.state = tone;
}

export function banner(text: string, error = false): void {
  const el = byId("banner");
  el.hidden = !text;
  el.textContent = text;
  el.classList.toggle("error", error);
}

export class Transcript {
  private readonly list = byId<HTMLOListElement>("transcript");
  private readonly segments = new Map<string, HTMLLIElement>();

  /** Show a segment's newest text; a later update of the same segment replaces it. */
  segment(id: string, who: "user" | "agent", text: string, final: boolean): void {
    let li = this.segments.get(id);
    if (!li) {
      li = document.createElement("li");
      li.dataset.segment = id;
      this.segments.set(id, li);
      this.list.appendChild(li);
    }
    li.className = `${who}${final ? "" : " interim"}`;
    li.dataset.role = who;
    li.dataset.final = String(final);
    const label = document.createElement("b");
    label.textContent = who === "user" ? "you" : "agent";
    li.replaceChildren(label, document.createTextNode(text));
    this.list.scrollTop = this.list.scrollHeight;
  }
}

const STAGES: [keyof TurnFigures, string, string][] = [
  ["end_of_turn_ms", "s-eot", "end of speech → turn decided"],
  ["llm_ttft_ms", "s-ttft", "decided → first token"],
  ["tts_ttfb_ms", "s-ttfb", "first token → first audio"],
  ["sink_ms", "s-sink", "first audio → playing"],
];
const KEEP_TURNS = 8;

export function waterfall(turn: TurnFigures): void {
  const host = byId("waterfall");
  const spoken = Number(turn.voice_to_voice_ms ?? 0) > 0; // a typed turn has no end of speech
  const total = spoken
    ? Number(turn.voice_to_voice_ms)
    : STAGES.reduce((sum, [key]) => sum + Math.max(0, Number(turn[key] ?? 0)), 0);
  const row = document.createElement("div");
  row.className = "turn";
  row.dataset.voiceToVoice = String(turn.voice_to_voice_ms ?? "");
  row.dataset.total = String(total);
  const bar = document.createElement("div");
  bar.className = "bar";
  const scale = Math.max(total, 1);
  for (const [key, cls, what] of STAGES) {
    const ms = Number(turn[key] ?? 0);
    if (ms <= 0) continue;
    const span = document.createElement("span");
    span.className = cls;
    span.style.width = `${Math.min(100, (100 * ms) / scale)}%`;
    span.title = `${what}: ${ms.toFixed(0)} ms`;
    bar.appendChild(span);
  }
  const label = document.createElement("span");
  label.textContent = `${total.toFixed(0)} ms${spoken ? "" : " (typed)"}`;
  row.append(bar, label);
  host.prepend(row);
  while (host.children.length > KEEP_TURNS) host.lastElementChild?.remove();
}

const KEEP_CANCELS = 20;

export function cancelled(cancel: CancelFigures): void {
  const list = byId("cancels");
  const li = document.createElement("li");
  li.dataset.propagationMs = String(cancel.propagation_ms);
  li.textContent =
    `${cancel.trigger} flushed ${cancel.targets.join(", ")} (${cancel.flushed} frames) ` +
    `in ${cancel.propagation_ms.toFixed(2)} ms — ${cancel.reason}`;
  list.prepend(li);
  while (list.children.length > KEEP_CANCELS) list.lastElementChild?.remove();
}

export { byId };
