// wirecache dashboard charts: line charts drawn by the vendored uPlot, and the heat
// map of calls per template drawn on a canvas (text only through fillText).
'use strict';

window.WcCharts = (function () {
  const COLORS = ['#2f6fdb', '#c0392b', '#1f8a4c', '#8e44ad'];

  function width(el) {
    return Math.max(300, el.clientWidth || 360);
  }

  // A line chart in `el` with one series per label; `data` is uPlot's column form.
  function line(el, labels, opts) {
    const series = [{}].concat(labels.map((label, i) => ({
      label: label,
      stroke: COLORS[i % COLORS.length],
      width: 2,
      spanGaps: false,
      points: { show: true, size: 4 },
    })));
    const y = opts && opts.percent
      ? { range: [0, 1], values: (u, v) => v.map((x) => Math.round(x * 100) + '%') }
      : {};
    const chart = new uPlot({
      width: width(el),
      height: (opts && opts.height) || 160,
      series: series,
      scales: {
        x: { time: true },
        // Rates and durations start at zero; ratios span 0..1.
        y: opts && opts.percent ? { range: [0, 1] } : { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [{}, y],
      legend: { show: true },
    }, [[]].concat(labels.map(() => [])), el);
    return {
      set: function (data) { chart.setData(data); },
      resize: function () { chart.setSize({ width: width(el), height: chart.height }); },
    };
  }

  // Rows: templates; columns: sampling intervals; colour: calls relative to the maximum.
  function heat(canvas, rows, times) {
    const ctx = canvas.getContext('2d');
    const rowH = 18;
    const labelW = 300;
    canvas.width = Math.max(600, canvas.clientWidth || 1200);
    canvas.height = Math.max(40, rows.length * rowH + 20);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = '11px monospace';
    ctx.textBaseline = 'middle';
    if (rows.length === 0 || times.length === 0) {
      ctx.fillStyle = '#6b7385';
      ctx.fillText('no calls sampled yet', 8, 20);
      return;
    }
    let max = 1;
    rows.forEach((r) => r.calls.forEach((n) => { max = Math.max(max, n); }));
    const cellW = Math.max(1, (canvas.width - labelW) / times.length);
    rows.forEach((r, i) => {
      const y = i * rowH;
      ctx.fillStyle = '#1d2330';
      const text = r.template.length > 44 ? r.template.slice(0, 43) + '…' : r.template;
      ctx.fillText(text, 4, y + rowH / 2);
      r.calls.forEach((n, j) => {
        const a = n === 0 ? 0.04 : 0.15 + 0.85 * (n / max);
        ctx.fillStyle = 'rgba(47,111,219,' + a.toFixed(3) + ')';
        ctx.fillRect(labelW + j * cellW, y + 1, Math.ceil(cellW), rowH - 2);
      });
    });
    ctx.fillStyle = '#6b7385';
    const first = new Date(times[0] * 1000).toLocaleTimeString();
    const last = new Date(times[times.length - 1] * 1000).toLocaleTimeString();
    ctx.fillText(first, labelW, rows.length * rowH + 10);
    ctx.fillText(last, canvas.width - 70, rows.length * rowH + 10);
  }

  return { line: line, heat: heat };
})();
