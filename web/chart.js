// A small live line chart on a <canvas>: counts per second of a few series
// (transactions, events) over the last minute. No library: a canvas, two
// polylines and a legend in text, so a screen reader gets the numbers too.

const SECONDS = 60;

export class RateChart {
  constructor(series) {
    // series: [{key, label, cssVar}] — the colour comes from the stylesheet.
    this.series = series;
    this.buckets = Object.fromEntries(series.map((s) => [s.key, new Array(SECONDS).fill(0)]));
    this.current = Object.fromEntries(series.map((s) => [s.key, 0]));
    this.canvas = null;
    this.legend = null;
    this.timer = setInterval(() => this.tick(), 1000);
  }

  count(key, n = 1) {
    if (key in this.current) this.current[key] += n;
  }

  // The chart draws into canvas (and writes rates into legend) while they
  // are in the document; a page that goes away simply stops being drawn.
  attach(canvas, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.draw();
  }

  tick() {
    for (const s of this.series) {
      const b = this.buckets[s.key];
      b.shift();
      b.push(this.current[s.key]);
      this.current[s.key] = 0;
    }
    this.draw();
  }

  rate(key) {
    return this.buckets[key][SECONDS - 1];
  }

  average(key, seconds = 10) {
    const b = this.buckets[key];
    let sum = 0;
    for (let i = SECONDS - seconds; i < SECONDS; i++) sum += b[i];
    return sum / seconds;
  }

  draw() {
    const c = this.canvas;
    if (!c || !c.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 300;
    const h = c.clientHeight || 120;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const style = getComputedStyle(c);
    let max = 1;
    for (const s of this.series) for (const v of this.buckets[s.key]) max = Math.max(max, v);
    max = niceCeil(max);
    const pad = { l: 28, r: 6, t: 8, b: 16 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;

    // Grid: 0, max/2, max; the time axis is the last minute.
    g.strokeStyle = style.getPropertyValue('--grid').trim() || '#ddd';
    g.fillStyle = style.getPropertyValue('--axis').trim() || '#666';
    g.lineWidth = 1;
    g.font = '10px system-ui, sans-serif';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const f of [0, 0.5, 1]) {
      const y = pad.t + ph - f * ph;
      g.beginPath();
      g.moveTo(pad.l, Math.round(y) + 0.5);
      g.lineTo(w - pad.r, Math.round(y) + 0.5);
      g.stroke();
      g.fillText(String(Math.round(max * f * 10) / 10), pad.l - 4, y);
    }
    g.textAlign = 'left';
    g.textBaseline = 'alphabetic';
    g.fillText('−60 s', pad.l, h - 3);
    g.textAlign = 'right';
    g.fillText('now', w - pad.r, h - 3);

    for (const s of this.series) {
      const b = this.buckets[s.key];
      g.strokeStyle = style.getPropertyValue(s.cssVar).trim() || '#333';
      g.lineWidth = 2;
      g.beginPath();
      b.forEach((v, i) => {
        const x = pad.l + (i / (SECONDS - 1)) * pw;
        const y = pad.t + ph - (v / max) * ph;
        if (i === 0) g.moveTo(x, y);
        else g.lineTo(x, y);
      });
      g.stroke();
    }
    if (this.legend && this.legend.isConnected) {
      for (const s of this.series) {
        const out = this.legend.querySelector('[data-series="' + s.key + '"] output');
        if (out) out.textContent = this.rate(s.key) + '/s (10 s avg ' + this.average(s.key).toFixed(1) + ')';
      }
    }
  }
}

function niceCeil(v) {
  for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]) if (v <= m) return m;
  return Math.ceil(v / 10000) * 10000;
}
