// A hand-written SVG bar chart: one group of horizontal bars per metric, one bar per target.
import type { Bar } from '../scenarios/types.js';

const COLORS: Readonly<Record<string, string>> = { nginx: '#4c78a8', pool0: '#f58518', pool: '#54a24b', direct: '#9d9d9d' };
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
