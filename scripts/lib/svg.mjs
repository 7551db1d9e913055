// Small dependency-free SVG charts for the generated docs pages.

export const COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666', '#1f78b4', '#b2df8a', '#fb9a99'];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

function frame(W, H, title) {
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="50" y="18" font-size="13">${esc(title)}</text>`];
}

function niceTicks(max, n = 5) {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks = [];
  for (let v = 0; v <= max + 1e-9; v += step) ticks.push(v);
  return ticks;
}

/** Lines: series = [{ name, points: [[x, y], ...] }]; x numeric. */
export function lineChart({ title, xLabel, yLabel, series, yMax, xTicks }) {
  const W = 640, H = 360, L = 60, R = 150, T = 30, B = 40;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const top = yMax ?? Math.max(...series.flatMap((s) => s.points.map((p) => p[1])), 1e-9) * 1.1;
  const x = (v) => L + (x1 === x0 ? 0 : ((v - x0) / (x1 - x0)) * (W - L - R));
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const parts = frame(W, H, title);
  for (const v of niceTicks(top)) parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${+v.toFixed(2)}</text>`);
  for (const v of xTicks ?? [...new Set(xs)].sort((a, b) => a - b)) parts.push(`<text x="${x(v)}" y="${H - B + 16}" text-anchor="middle">${+v.toFixed(2)}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`, `<text x="14" y="${T + (H - T - B) / 2}" transform="rotate(-90 14 ${T + (H - T - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a[0] - b[0]).map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (const p of pts) parts.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${c}"/>`);
    parts.push(`<rect x="${W - R + 10}" y="${T + i * 16}" width="10" height="10" fill="${c}"/><text x="${W - R + 24}" y="${T + i * 16 + 9}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Grouped bars: groups = ['getppid', ...]; series = [{ name, values: [v per group] }]; an optional reference line. */
export function barChart({ title, yLabel, groups, series, reference, logScale }) {
  const W = 720, H = 380, L = 60, R = 230, T = 30, B = 40;
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v > 0);
  const top = Math.max(...all, reference ?? 0) * 1.15;
  const lo = logScale ? Math.min(...all, 1) * 0.8 : 0;
  const scale = (v) => (logScale ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(top) - Math.log10(lo)) : v / top);
  const y = (v) => T + (1 - scale(v)) * (H - T - B);
  const gw = (W - L - R) / groups.length;
  const bw = (gw * 0.8) / series.length;
  const parts = frame(W, H, title);
  const ticks = logScale ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].filter((v) => v >= lo && v <= top) : niceTicks(top);
  for (const v of ticks) parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 8}" y="${y(v) + 4}" text-anchor="end">${+v.toFixed(2)}</text>`);
  groups.forEach((g, gi) => {
    parts.push(`<text x="${L + gi * gw + gw / 2}" y="${H - B + 16}" text-anchor="middle">${esc(g)}</text>`);
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (!Number.isFinite(v)) return;
      const x = L + gi * gw + gw * 0.1 + si * bw;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(H - B - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(s.name)}: ${v.toFixed(2)}</title></rect>`);
    });
  });
  if (reference !== undefined) parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(reference)}" y2="${y(reference)}" stroke="#000" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="14" y="${T + (H - T - B) / 2}" transform="rotate(-90 14 ${T + (H - T - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => parts.push(`<rect x="${W - R + 10}" y="${T + i * 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${W - R + 24}" y="${T + i * 16 + 9}">${esc(s.name)}</text>`));
  parts.push('</svg>');
  return parts.join('\n');
}
