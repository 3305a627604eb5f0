import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { curveSeries, renderCostCurveSvg, renderCostCurveTable } from "../../../bench/lib/cost-curve.js";
import type { Figure } from "../../../bench/lib/results.js";
import { renderBenchmarkTables } from "../../../bench/report.js";
import { machine } from "./report-fixtures.js";

const point = (series: string, size: number, value: number, unit: string): Figure => ({
  id: `${series}-${size}`, section: "control plane", title: `${series} at ${size}`, value, unit, target: "—", met: null, curve: { series, size },
});

/** Two series with different units, one of them missing 1M; a figure without `curve` that must stay out. */
const figures: Figure[] = [
  point("write → live p99", 10_000, 190, "ms"),
  point("write → live p99", 1_000, 40.5, "ms"),
  point("write → live p99", 100_000, 1_500, "ms"),
  point("full apply", 1_000_000, 70, "s"),
  point("full apply", 1_000, 0.1, "s"),
  { id: "cp-api-reads", section: "control plane", title: "API reads", value: 3_900, unit: "req/s", target: "≥ 10,000 req/s", met: false },
];

/**
 * A small well-formedness check (no XML parser in the tree): one root, every tag closed in order, attributes
 * quoted, no bare `&` or `<` in text. Returns the element names in document order.
 */
function wellFormedElements(xml: string): string[] {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, "");
  const stack: string[] = [];
  const seen: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let match: RegExpExecArray | null;
  let at = 0;
  while (at < body.length) {
    token.lastIndex = at;
    match = token.exec(body);
    assert.ok(match, `not well-formed at ${at}: ${body.slice(at, at + 60)}`);
    at = token.lastIndex;
    const [, closing, name, , selfClosing, text] = match;
    if (text !== undefined) {
      assert.ok(stack.length > 0 || text.trim() === "", `text outside the root: ${text}`);
      assert.doesNotMatch(text.replace(/&(amp|lt|gt|quot|apos);/g, ""), /&/, `a bare & in ${text}`);
      continue;
    }
    if (closing) {
      assert.equal(stack.pop(), name, `</${name}> closes the element that is open`);
      continue;
    }
    if (stack.length === 0) roots++;
    seen.push(name as string);
    if (!selfClosing) stack.push(name as string);
  }
  assert.deepEqual(stack, [], "every element is closed");
  assert.equal(roots, 1, "one root element");
  return seen;
}

describe("cost curve", () => {
  it("groups the figures that carry a curve point by series, sorted by size", () => {
    const lines = curveSeries(figures);
    assert.deepEqual(lines.map((l) => [l.series, l.unit, l.points.map((p) => p.size)]), [
      ["write → live p99", "ms", [1_000, 10_000, 100_000]],
      ["full apply", "s", [1_000, 1_000_000]],
    ]);
  });

  it("renders a well-formed SVG with one polyline per series and one marker per point", () => {
    const svg = renderCostCurveSvg(figures, "Cost curve <test> & more");
    const elements = wellFormedElements(svg);
    assert.equal(elements[0], "svg");
    assert.equal(elements.filter((e) => e === "polyline").length, 2);
    assert.equal(elements.filter((e) => e === "circle").length, 5);
    assert.match(svg, /Cost curve &lt;test&gt; &amp; more/);
    for (const label of ["1k", "10k", "100k", "1M"]) assert.match(svg, new RegExp(`>${label}</text>`));
  });

  it("puts the smallest size leftmost and a larger value higher on the log-scale x axis", () => {
    const svg = renderCostCurveSvg([point("s", 1_000, 1, "ms"), point("s", 1_000_000, 4, "ms")]);
    const coords = /<polyline points="([^"]+)"/.exec(svg)?.[1]?.split(" ").map((p) => p.split(",").map(Number)) ?? [];
    const [first, last] = coords as [[number, number], [number, number]];
    assert.ok(first[0] < last[0], "1k left of 1M");
    assert.ok(first[1] > last[1], "the larger value is drawn higher (smaller y)");
  });

  it("still renders a valid SVG when no figure carries a curve point", () => {
    assert.deepEqual(wellFormedElements(renderCostCurveSvg([])).filter((e) => e === "polyline"), []);
  });

  it("tabulates a row per series and a cell per size, with — where nothing was measured", () => {
    const rows = renderCostCurveTable(figures).split("\n");
    assert.equal(rows[0], "| series | 1k | 10k | 100k | 1M |");
    assert.equal(rows[2], "| write → live p99 | 40.5 ms | 190 ms | 1,500 ms | — |");
    assert.equal(rows[3], "| full apply | 0.1 s | — | — | 70 s |");
    assert.equal(rows.length, 4);
    assert.equal(renderCostCurveTable([figures[5] as Figure]), "", "no table without curve points");
  });

  it("adds the cost-curve table and the image link to the report's tables", () => {
    const report = { date: "2026-12-03T10:00:00.000Z", command: "npm run bench", quick: false, machine, figures, errors: [] };
    const text = renderBenchmarkTables(report, { costCurveImage: "benchmarks-cost-curve.svg" });
    assert.match(text, /### Cost curve\n[\s\S]*\| full apply \| 0\.1 s \| — \| — \| 70 s \|/);
    assert.match(text, /!\[[^\]]*\]\(benchmarks-cost-curve\.svg\)/);
    assert.doesNotMatch(renderBenchmarkTables(report), /\]\(benchmarks-cost-curve\.svg\)/, "no link when no plot was written");
  });
});
