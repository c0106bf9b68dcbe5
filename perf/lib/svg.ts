// Hand-written SVG charts: bars (one group per metric, one bar per target) and lines (stacked panels over time, one line per target).
import type { Bar } from '../scenarios/types.js';

const COLORS: Readonly<Record<string, string>> = { nginx: '#4c78a8', default: '#e45756', pool0: '#f58518', pool: '#54a24b', direct: '#9d9d9d' };
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChart(title: string, bars: Bar[]): string {
  const groups = [...new Set(bars.map((b) => b.group))];
  const W = 760, left = 90, right = 70, barH = 18, gap = 4, groupGap = 30, top = 50;
  let y = top;
  const parts: string[] = [];
  for (const g of groups) {
    const gb = bars.filter((b) => b.group === g && Number.isFinite(b.value));
    const max = Math.max(1e-9, ...gb.map((b) => b.value));
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(g)}</text>`);
    y += 20;
    for (const b of gb) {
      const w = ((W - left - right) * b.value) / max;
      parts.push(
        `<text x="${left - 6}" y="${y + barH - 5}" text-anchor="end">${esc(b.target)}</text>`,
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b.target] ?? '#b279a2'}"/>`,
        `<text x="${(left + w + 6).toFixed(1)}" y="${y + barH - 5}">${b.value.toFixed(1)}</text>`,
      );
      y += barH + gap;
    }
    y += groupGap - gap;
  }
  const H = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** One line of a panel: a target's [x, y] points (x in seconds). */
export interface Series {
  name: string;
  points: Array<[number, number]>;
}

/** One panel of a line chart: its own y axis (from 0), shared x axis. */
export interface Panel {
  title: string;
  series: Series[];
}

/** A number for an axis label: 1234 → "1234", 0.5 → "0.5", 12345 → "12.3k". */
function tick(v: number): string {
  if (Math.abs(v) >= 10000) return `${(v / 1000).toFixed(1)}k`;
  return Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1);
}

/** Stacked line panels (e.g. RSS, open fds, loop delay over a soak), x = seconds, one colour per target. */
export function lineChart(title: string, panels: Panel[], xLabel = 's', marks: Array<{ x: number; label: string }> = []): string {
  const W = 760, left = 70, right = 20, panelH = 150, gapY = 50, top = 80;
  const xs = panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x)));
  const xMax = Math.max(1, ...xs);
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))];
  const parts: string[] = [];
  names.forEach((n, i) => {
    const x = left + i * 130;
    parts.push(`<rect x="${x}" y="38" width="14" height="4" fill="${COLORS[n] ?? '#b279a2'}"/>`, `<text x="${x + 20}" y="44">${esc(n)}</text>`);
  });
  let y = top;
  const plotW = W - left - right;
  for (const p of panels) {
    const ys = p.series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
    const yMax = Math.max(1, ...ys) * 1.1;
    const px = (x: number): string => (left + (plotW * x) / xMax).toFixed(1);
    const py = (v: number): string => (y + panelH - (panelH * v) / yMax).toFixed(1);
    parts.push(`<text x="${left}" y="${y - 8}" font-weight="bold">${esc(p.title)}</text>`,
      `<rect x="${left}" y="${y}" width="${plotW}" height="${panelH}" fill="none" stroke="#ccc"/>`);
    for (const f of [0, 0.5, 1]) {
      parts.push(`<text x="${left - 6}" y="${(y + panelH - panelH * f + 4).toFixed(1)}" text-anchor="end" font-size="11">${tick(yMax * f)}</text>`);
    }
    parts.push(`<text x="${left}" y="${y + panelH + 14}" font-size="11">0</text>`,
      `<text x="${left + plotW}" y="${y + panelH + 14}" font-size="11" text-anchor="end">${tick(xMax)} ${esc(xLabel)}</text>`);
    for (const m of marks) {
      parts.push(`<line x1="${px(m.x)}" y1="${y}" x2="${px(m.x)}" y2="${y + panelH}" stroke="#888" stroke-dasharray="4 3"/>`,
        `<text x="${(Number(px(m.x)) + 4).toFixed(1)}" y="${y + 12}" font-size="11" fill="#666">${esc(m.label)}</text>`);
    }
    for (const s of p.series) {
      const pts = s.points.filter(([, v]) => Number.isFinite(v));
      if (pts.length === 0) continue;
      const d = pts.map(([x, v], i) => `${i === 0 ? 'M' : 'L'}${px(x)},${py(v)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${COLORS[s.name] ?? '#b279a2'}" stroke-width="1.5"/>`);
    }
    y += panelH + gapY;
  }
  const H = y;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
