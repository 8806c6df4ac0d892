/**
 * The report as one markdown table: a row per scenario figure, a column per
 * server, then our server's ratio to each peer; notes for anything amiss.
 *
 * @module
 */
import type { Report, RunRecord } from "./bench.ts";
import type { Figure } from "./figures.ts";
import type { ServerName } from "./servers.ts";

/** A number in 3 significant digits with k/M suffixes; integers under 1000 exactly. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const size = Math.abs(value);
  if (size >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (size >= 1e4) return `${(value / 1e3).toPrecision(3)}k`;
  if (Number.isInteger(value)) return String(value);
  if (size >= 1000) return value.toFixed(0);
  return value.toPrecision(3);
}

function formatValue(value: number | string | null | undefined): string {
  if (value === undefined) return "";
  if (value === null) return "–";
  return typeof value === "number" ? formatNumber(value) : value;
}

/** `ours / peer` for a figure with a direction, when both are usable numbers. */
export function ratio(
  ours: Figure | undefined,
  peer: Figure | undefined,
): string {
  if (ours?.better === undefined || peer === undefined) return "";
  if (typeof ours.value !== "number" || typeof peer.value !== "number") {
    return "";
  }
  if (
    !Number.isFinite(ours.value) || !Number.isFinite(peer.value) ||
    peer.value === 0
  ) return "";
  const r = ours.value / peer.value;
  return `${r >= 100 ? r.toPrecision(3) : r.toFixed(2)}×`;
}

/** A run's figure; "n/a" where the server did not run the scenario (e.g. no compression). */
function cell(run: RunRecord | undefined, figure: Figure | undefined): string {
  if (run === undefined) return "n/a";
  return run.ok ? formatValue(figure?.value) : "failed";
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** Renders `report`; ratio columns compare `baseline` (when it ran) to every other server. */
export function renderTable(
  report: Report,
  baseline: ServerName = "pushwire",
): string {
  const servers = (Object.keys(report.servers) as ServerName[])
    .filter((name) => report.servers[name]?.available);
  const peers = servers.includes(baseline) ? servers.filter((name) => name !== baseline) : [];
  const header = [
    "scenario",
    "figure",
    ...servers,
    ...peers.map((peer) => `${baseline}/${peer}`),
  ];
  const lines = [
    row(header),
    row(header.map((_, i) => (i < 2 ? "---" : "---:"))),
  ];
  const notes: string[] = [];
  for (const scenario of report.scenarios) {
    const figures = new Map<string, Map<ServerName, Figure>>();
    for (const name of servers) {
      const run = scenario.runs[name];
      if (run === undefined) continue;
      if (!run.ok) notes.push(`${scenario.id} ${name}: ${run.error}`);
      for (const warning of run.warnings) {
        notes.push(`${scenario.id} ${name}: ${warning}`);
      }
      for (const figure of run.figures) {
        const byServer = figures.get(figure.key) ??
          new Map<ServerName, Figure>();
        byServer.set(name, figure);
        figures.set(figure.key, byServer);
      }
    }
    if (figures.size === 0) {
      lines.push(
        row([
          scenario.title,
          "failed",
          ...servers.map(() => "–"),
          ...peers.map(() => ""),
        ]),
      );
      continue;
    }
    for (const byServer of figures.values()) {
      const first = byServer.values().next().value as Figure;
      const arrow = first.better === "higher" ? " ↑" : first.better === "lower" ? " ↓" : "";
      lines.push(row([
        scenario.title,
        `${first.label}${arrow}`,
        ...servers.map((name) => cell(scenario.runs[name], byServer.get(name))),
        ...peers.map((peer) => ratio(byServer.get(baseline), byServer.get(peer))),
      ]));
    }
  }
  for (const [name, status] of Object.entries(report.servers)) {
    if (!status.available) {
      notes.push(`${name}: unavailable (${status.reason})`);
    }
  }
  const machine = report.machine;
  const setup = `${machine.cores} cores; ${
    machine.pinned
      ? `server on core ${machine.serverCore}, generator (${machine.generatorRuntime}) on core ${machine.generatorCore}`
      : `unpinned, generator on ${machine.generatorRuntime}`
  }; ${Object.entries(machine.runtimes).map(([name, version]) => `${name} ${version}`).join(", ")}${
    (report.repeat ?? 1) > 1 ? `; median of ${report.repeat} runs per server` : ""
  }`;
  const legend = "↑ higher is better, ↓ lower is better; ratios are ours ÷ peer.";
  return [
    setup,
    "",
    ...lines,
    "",
    legend,
    ...(notes.length > 0 ? ["", ...notes.map((note) => `- ${note}`)] : []),
  ].join("\n");
}
