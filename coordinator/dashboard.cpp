// The dashboard page served at GET / by the console: plain HTML and JS, no external resources
// (the coordinator may run where nothing else is reachable).
#include "coordinator/console.h"

namespace hymask::coordinator {

const char* const kDashboardHtml = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hymask coordinator</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
 h1 { font-size: 1.3em; } .muted { color: #777; }
 table { border-collapse: collapse; margin: 1em 0; } td, th { padding: .3em .8em; border-bottom: 1px solid #ddd; text-align: right; }
 th { background: #f4f4f4; } .lost { color: #b00; } .connected { color: #070; }
 .charts { display: grid; grid-template-columns: repeat(2, 460px); gap: 1em; }
 canvas { border: 1px solid #ddd; }
</style></head><body>
<h1>hymask coordinator <span class="muted" id="summary">connecting...</span></h1>
<table id="workers"><thead><tr><th>worker</th><th>state</th><th>step</th><th>images/s</th><th>loss</th><th>rewards</th><th>seen (s ago)</th></tr></thead><tbody></tbody></table>
<div class="charts">
 <div><b>FR loss (mean of workers)</b><br><canvas id="loss" width="460" height="160"></canvas></div>
 <div><b>throughput (images/s, all workers)</b><br><canvas id="throughput" width="460" height="160"></canvas></div>
 <div><b>reward baseline</b><br><canvas id="baseline" width="460" height="160"></canvas></div>
 <div><b>policy: pi(k)</b><br><canvas id="policy" width="460" height="160"></canvas></div>
</div>
<script>
function line(id, values, color) {
  const c = document.getElementById(id), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  if (values.length < 2) return;
  const lo = Math.min(...values), hi = Math.max(...values), span = (hi - lo) || 1;
  g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
  values.forEach((v, i) => {
    const x = i / (values.length - 1) * (c.width - 10) + 5;
    const y = c.height - 15 - (v - lo) / span * (c.height - 30);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke(); g.fillStyle = '#555';
  g.fillText(hi.toPrecision(4), 5, 12); g.fillText(lo.toPrecision(4), 5, c.height - 3);
}
function bars(id, probs, first) {
  const c = document.getElementById(id), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  const w = (c.width - 20) / probs.length;
  probs.forEach((p, i) => {
    g.fillStyle = '#4a7fb5'; g.fillRect(10 + i * w + 4, c.height - 20 - p * (c.height - 40), w - 8, p * (c.height - 40));
    g.fillStyle = '#333'; g.fillText('k=' + (i + first) + ' ' + p.toFixed(2), 10 + i * w + 4, c.height - 5);
  });
}
async function refresh() {
  try {
    const s = await (await fetch('/status')).json();
    const up = s.workers.filter(w => w.state === 'connected').length;
    document.getElementById('summary').textContent =
      `policy v${s.policy.version}, ${up}/${s.workers.length} workers connected, ` +
      `${s.policy.records_used} rewards used, ${s.connections.refused} refused`;
    document.querySelector('#workers tbody').innerHTML = s.workers.map(w =>
      `<tr><td>${w.id}</td><td class="${w.state}">${w.state}</td><td>${w.step}</td>` +
      `<td>${w.images_per_second.toFixed(0)}</td><td>${w.loss.toFixed(3)}</td>` +
      `<td>${w.records}</td><td>${w.seconds_since_seen.toFixed(1)}</td></tr>`).join('');
    // The curves start at the first real report, not at the zeros before it.
    const from = s.history.findIndex(h => h.images_per_second > 0);
    const history = from < 0 ? [] : s.history.slice(from);
    line('loss', history.map(h => h.loss), '#b5524a');
    line('throughput', history.map(h => h.images_per_second), '#4a9b5b');
    line('baseline', history.map(h => h.baseline), '#7a5ab5');
    bars('policy', s.policy.k, s.policy.k_min);
  } catch (e) {
    document.getElementById('summary').textContent = 'coordinator unreachable';
  }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
)HTML";

}  // namespace hymask::coordinator
