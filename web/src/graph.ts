// The graph view: the SVG Graphviz drew, animated with each snapshot's figures.

import type { CancelFigures, DrawnGraph, Snapshot } from "./messages";

const SVG_NS = "http://www.w3.org/2000/svg";
const FLASH_MS = 1500;

function fmt(n: number, digits = 1): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(digits);
}

export class GraphView {
  private graph: DrawnGraph | null = null;
  private nodes = new Map<string, SVGGElement>();
  private figures = new Map<string, SVGTextElement>();
  private edges = new Map<string, SVGGElement>();
  private cancelEdges: { trigger: string; target: string; el: SVGGElement | null }[] = [];
  private rows = new Map<string, HTMLTableRowElement>();
  private drops = new Map<string, number>();

  constructor(private readonly host: HTMLElement) {}

  get drawn(): boolean {
    return this.graph !== null;
  }

  /** Forget the graph (a new room: its session sends its own). */
  clear(): void {
    this.graph = null;
    this.host.replaceChildren();
    delete this.host.dataset.graph;
  }

  show(graph: DrawnGraph): void {
    this.graph = graph;
    this.nodes.clear();
    this.figures.clear();
    this.edges.clear();
    this.rows.clear();
    this.host.replaceChildren();
    this.host.dataset.graph = graph.name;
    if (!graph.svg) {
      this.table(graph);
      return;
    }
    const doc = new DOMParser().parseFromString(graph.svg, "image/svg+xml");
    const svg = document.importNode(doc.documentElement, true) as unknown as SVGSVGElement;
    this.host.appendChild(svg);
    for (const g of svg.querySelectorAll<SVGGElement>("g.node")) {
      const name = g.querySelector("title")?.textContent ?? "";
      this.nodes.set(name, g);
      const box = g.getBBox();
      const text = document.createElementNS(SVG_NS, "text");
      text.setAttribute("class", "gf-fig");
      text.setAttribute("x", String(box.x + box.width / 2));
      text.setAttribute("y", String(box.y + box.height - 5));
      text.setAttribute("text-anchor", "middle");
      text.dataset.node = name;
      text.dataset.frames = "0";
      g.appendChild(text);
      this.figures.set(name, text);
    }
    // Graphviz numbers edges in the order of the DOT source: the data edges, then the cancellations
    graph.edges.forEach((edge, i) => {
      const el = svg.querySelector<SVGGElement>(`#edge${i + 1}`);
      if (el) {
        el.dataset.edge = edge.label;
        this.edges.set(edge.label, el);
      }
    });
    this.cancelEdges = graph.cancels.map((c, j) => ({
      ...c,
      el: svg.querySelector<SVGGElement>(`#edge${graph.edges.length + j + 1}`),
    }));
  }

  private table(graph: DrawnGraph): void {
    const table = document.createElement("table");
    table.innerHTML = "<tr><th>node</th><th>frames</th><th>frames/s</th><th>handler</th></tr>";
    for (const name of graph.nodes) {
      const row = table.insertRow();
      row.dataset.node = name;
      row.insertCell().textContent = name;
      for (let i = 0; i < 3; i++) row.insertCell();
      this.rows.set(name, row);
    }
    this.host.appendChild(table);
  }

  update(snap: Snapshot): void {
    for (const [name, [frames, fps, handlerMs]] of Object.entries(snap.nodes)) {
      const handler = handlerMs >= 0 ? ` · ${fmt(handlerMs, 2)} ms` : "";
      const text = this.figures.get(name);
      if (text) {
        text.textContent = `${frames} · ${fmt(fps)}/s${handler}`;
        text.dataset.frames = String(frames);
        this.nodes.get(name)?.classList.toggle("gf-active", fps > 0);
      }
      const row = this.rows.get(name);
      if (row) {
        row.dataset.frames = String(frames);
        row.cells[1].textContent = String(frames);
        row.cells[2].textContent = fmt(fps);
        row.cells[3].textContent = handlerMs >= 0 ? `${fmt(handlerMs, 2)} ms` : "";
      }
    }
    for (const [label, [fps, depth, capacity, dropped]] of Object.entries(snap.edges)) {
      const el = this.edges.get(label);
      if (!el) continue;
      const text = el.querySelector("text");
      const queue = capacity > 0 ? `${depth}/${capacity}` : "fused";
      const lost = dropped > 0 ? ` · ${dropped} dropped` : "";
      if (text) text.textContent = `${queue} · ${fmt(fps)}/s${lost}`;
      el.dataset.depth = String(depth);
      const ratio = capacity > 0 ? depth / capacity : 0;
      const path = el.querySelector("path");
      if (path) path.style.stroke = ratio > 0.75 ? "#dc2626" : ratio > 0.25 ? "#f59e0b" : "";
      const before = this.drops.get(label) ?? 0;
      el.classList.toggle("gf-drop", dropped > before);
      this.drops.set(label, dropped);
    }
    for (const cancel of snap.cancels) this.flash(cancel);
  }

  private flash(cancel: CancelFigures): void {
    const lit: Element[] = [];
    for (const edge of this.cancelEdges) {
      if (edge.trigger === cancel.trigger && edge.el) lit.push(edge.el);
    }
    for (const target of cancel.targets) {
      const node = this.nodes.get(target);
      if (node) lit.push(node);
    }
    for (const el of lit) el.classList.add("gf-flash");
    window.setTimeout(() => lit.forEach((el) => el.classList.remove("gf-flash")), FLASH_MS);
  }
}
