// wirecache dashboard: DOM helpers that only ever set text (textContent), and the
// number formats the page shows. Loaded before app.js.
'use strict';

window.WcDom = (function () {
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function figures(dl, pairs) {
    clear(dl);
    pairs.forEach(([k, v, field]) => {
      dl.appendChild(el('dt', null, k));
      const dd = el('dd', null, v);
      if (field) dd.dataset.field = field;
      dl.appendChild(dd);
    });
  }
  function pct(x) { return (x * 100).toFixed(1) + '%'; }
  function ms(x) { return x < 10 ? x.toFixed(2) + ' ms' : x.toFixed(0) + ' ms'; }
  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
    return (n / 1073741824).toFixed(2) + ' GiB';
  }
  function secs(s) {
    if (s >= 3600) return (s / 3600).toFixed(1) + ' h';
    if (s >= 60) return (s / 60).toFixed(1) + ' min';
    return s.toFixed(s < 10 ? 1 : 0) + ' s';
  }
  function saved(msTotal) { return msTotal >= 1000 ? secs(msTotal / 1000) : ms(msTotal); }

  return { el: el, clear: clear, figures: figures, pct: pct, ms: ms, bytes: bytes, secs: secs, saved: saved };
})();
