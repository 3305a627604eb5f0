import type { Figure } from "./results.js";

/** One line of the cost curve: the figures of one `curve.series`, by size. */
export interface CurveSeries { series: string; unit: string; points: { size: number; value: number }[] }

/** The sizes every curve is meant to reach; a column of the table even where no figure measured it. */
export const CURVE_SIZES = [1_000, 10_000, 100_000, 1_000_000] as const;

/** Figures carrying `curve`, grouped by series (in order of first appearance) and sorted by size. */
export function curveSeries(figures: Figure[]): CurveSeries[] {
  const bySeries = new Map<string, CurveSeries>();
  for (const f of figures) {
    if (!f.curve || !Number.isFinite(f.value)) continue;
    let line = bySeries.get(f.curve.series);
    if (!line) {
      line = { series: f.curve.series, unit: f.unit, points: [] };
      bySeries.set(f.curve.series, line);
    }
    line.points.push({ size: f.curve.size, value: f.value });
  }
  for (const line of bySeries.values()) line.points.sort((a, b) => a.size - b.size);
  return [...bySeries.values()];
}

/** 1k, 10k, 100k, 1M (and 1, 10, 100 or 2.5k where a figure was measured there). */
export function sizeLabel(size: number): string {
  if (size >= 1_000_000) return `${size / 1_000_000}M`;
  if (size >= 1_000) return `${size / 1_000}k`;
  return String(size);
}

/** The cost curve as a markdown table: a row per series, a column per size, "—" where nothing was measured. */
export function renderCostCurveTable(figures: Figure[]): string {
  const lines = curveSeries(figures);
  if (lines.length === 0) return "";
  const sizes = [...new Set([...CURVE_SIZES, ...lines.flatMap((l) => l.points.map((p) => p.size))])].sort((a, b) => a - b);
  const rows = [
    `| series | ${sizes.map(sizeLabel).join(" | ")} |`,
    `|---|${sizes.map(() => "---|").join("")}`,
  ];
  for (const line of lines) {
    const cells = sizes.map((size) => {
      const point = line.points.find((p) => p.size === size);
      return point ? `${point.value.toLocaleString("en")} ${line.unit}` : "—";
    });
    rows.push(`| ${line.series} | ${cells.join(" | ")} |`);
  }
  return rows.join("\n");
}

const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The smallest 1, 2 or 5 × 10^k at or above `value`: a round top for a y axis. */
function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const decade = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * decade >= value) return step * decade;
  return 10 * decade;
}

/** Tick and tooltip numbers: three significant digits, with k or M above ten thousand. */
function fmt(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1_000_000) return `${Number((value / 1_000_000).toPrecision(3))}M`;
  if (abs >= 10_000) return `${Number((value / 1_000).toPrecision(3))}k`;
  return Number(value.toPrecision(3)).toLocaleString("en");
}

const CHART = { width: 440, height: 250, left: 72, right: 16, top: 34, bottom: 42 } as const;
const COLUMNS = 2;

/** One small chart: log-scale x (sizes, whole decades), linear y from 0 in the series' own unit, one polyline. */
function chart(line: CurveSeries, x0: number, y0: number): string {
  const sizes = line.points.map((p) => p.size);
  const lowDecade = Math.floor(Math.log10(Math.min(CURVE_SIZES[0], ...sizes)));
  const highDecade = Math.ceil(Math.log10(Math.max(CURVE_SIZES[CURVE_SIZES.length - 1] as number, ...sizes)));
  const plotW = CHART.width - CHART.left - CHART.right;
  const plotH = CHART.height - CHART.top - CHART.bottom;
  const top = niceCeiling(Math.max(0, ...line.points.map((p) => p.value)));
  const bottom = Math.min(0, ...line.points.map((p) => p.value));
  const x = (size: number) => x0 + CHART.left + ((Math.log10(size) - lowDecade) / (highDecade - lowDecade)) * plotW;
  const y = (value: number) => y0 + CHART.top + plotH - ((value - bottom) / (top - bottom)) * plotH;
  const parts: string[] = [
    `<g>`,
    `<text x="${x0 + CHART.left}" y="${y0 + 20}" font-size="13" font-weight="bold">${escapeXml(line.series)}</text>`,
  ];
  for (let d = lowDecade; d <= highDecade; d++) {
    const px = x(10 ** d).toFixed(1);
    parts.push(`<line x1="${px}" y1="${y0 + CHART.top}" x2="${px}" y2="${y0 + CHART.top + plotH}" stroke="#ddd"/>`);
    parts.push(`<text x="${px}" y="${y0 + CHART.top + plotH + 16}" font-size="11" text-anchor="middle">${sizeLabel(10 ** d)}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const value = bottom + ((top - bottom) * i) / 4;
    const py = y(value).toFixed(1);
    parts.push(`<line x1="${x0 + CHART.left}" y1="${py}" x2="${x0 + CHART.left + plotW}" y2="${py}" stroke="#ddd"/>`);
    parts.push(`<text x="${x0 + CHART.left - 6}" y="${py}" font-size="11" text-anchor="end" dominant-baseline="middle">${escapeXml(fmt(value))}</text>`);
  }
  parts.push(`<text x="${x0 + CHART.left + plotW / 2}" y="${y0 + CHART.height - 6}" font-size="11" text-anchor="middle">mappings (log scale)</text>`);
  parts.push(`<text x="${x0 + 14}" y="${y0 + CHART.top + plotH / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 ${x0 + 14} ${y0 + CHART.top + plotH / 2})">${escapeXml(line.unit)}</text>`);
  const points = line.points.map((p) => `${x(p.size).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  parts.push(`<polyline points="${points}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
  for (const p of line.points) {
    parts.push(`<circle cx="${x(p.size).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="3.5" fill="#1f77b4"><title>${escapeXml(`${sizeLabel(p.size)}: ${fmt(p.value)} ${line.unit}`)}</title></circle>`);
  }
  parts.push(`</g>`);
  return parts.join("\n");
}

/**
 * docs/benchmarks-cost-curve.svg: one small chart per series (each with its own unit on y), so O(1) reads as a
 * flat line and O(n) as one rising a decade per decade. Hand-written SVG text: no plotting dependency.
 */
export function renderCostCurveSvg(figures: Figure[], caption = ""): string {
  const lines = curveSeries(figures);
  const rows = Math.max(1, Math.ceil(lines.length / COLUMNS));
  const header = caption ? 28 : 0;
  const width = CHART.width * COLUMNS;
  const height = CHART.height * rows + header;
  const parts = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
  if (caption) parts.push(`<text x="10" y="19" font-size="13">${escapeXml(caption)}</text>`);
  if (lines.length === 0) parts.push(`<text x="10" y="${header + 20}" font-size="13">no figure of this run carries a cost-curve point</text>`);
  lines.forEach((line, i) => parts.push(chart(line, (i % COLUMNS) * CHART.width, header + Math.floor(i / COLUMNS) * CHART.height)));
  parts.push(`</svg>`, "");
  return parts.join("\n");
}
