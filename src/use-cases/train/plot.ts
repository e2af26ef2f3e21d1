// loss.svg: train and val loss against step, as a small hand-written SVG (no plotting library).

export interface LossPoint {
  step: number;
  train_loss?: number;
  val_loss?: number;
}

const W = 640, H = 400, L = 64, R = 20, T = 36, B = 48;

function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function renderLossSvg(points: LossPoint[], title = 'loss'): string {
  const pts = points.filter((p) => Number.isFinite(p.step));
  const ys = pts.flatMap((p) => [p.train_loss, p.val_loss]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const x0 = pts.length ? Math.min(...pts.map((p) => p.step)) : 0;
  let x1 = pts.length ? Math.max(...pts.map((p) => p.step)) : 1;
  if (x1 <= x0) x1 = x0 + 1;
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 1e-6) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  for (const t of niceTicks(y0, y1, 6)) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${t}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${H - B}" x2="${x}" y2="${H - B + 4}" stroke="black"/>`);
    out.push(`<text x="${x}" y="${H - B + 18}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`);
  out.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">step</text>`);
  const series: [keyof LossPoint, string, string][] = [['train_loss', '#1f77b4', 'train'], ['val_loss', '#ff7f0e', 'val']];
  series.forEach(([key, color, label], i) => {
    const line = pts.filter((p) => typeof p[key] === 'number' && Number.isFinite(p[key] as number));
    if (line.length) {
      const d = line.map((p) => `${sx(p.step).toFixed(1)},${sy(p[key] as number).toFixed(1)}`).join(' ');
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${d}"/>`);
      for (const p of line) out.push(`<circle cx="${sx(p.step).toFixed(1)}" cy="${sy(p[key] as number).toFixed(1)}" r="2.5" fill="${color}"/>`);
    }
    const lx = W - R - 90, ly = T + 8 + i * 18;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 26}" y="${ly}" dominant-baseline="middle">${label}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
