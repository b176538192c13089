/**
 * The dashboard page: one HTML document with its own small script. It opens `/events` (server-sent
 * events carrying the whole view) and redraws: the outcome, each cluster's nodes, throughput and
 * loss charts per node (uPlot, served by this process), stragglers against their role's median,
 * the pipeline's operators and the restart timeline. The layout folds to one column on a phone.
 * The client script avoids template literals so it can live inside this module's template string.
 */

export function dashboardPage(options: { title: string }): string {
  const title = escapeHtml(options.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/assets/uplot.css">
<style>${style}</style>
</head>
<body>
<header>
  <h1>${title}</h1>
  <span id="outcome" class="pill" data-status="connecting">connecting…</span>
  <span id="summary" class="muted"></span>
</header>
<main>
  <section id="clusters"></section>
  <section class="charts">
    <div class="card"><h2>Throughput per node <span class="muted">(samples/s)</span></h2><div id="throughput-chart" class="chart"></div></div>
    <div class="card"><h2>Loss per node</h2><div id="loss-chart" class="chart"></div></div>
  </section>
  <section class="card"><h2>Pipeline operators</h2><div class="scroll"><table id="operators"><thead><tr><th>job</th><th>operator</th><th>×</th><th>records in</th><th>records out</th><th>in/s</th><th>out/s</th><th title="share of the last interval spent waiting for room downstream">backpressured</th><th title="the fullest subtask's bounded input channel">input queue</th><th class="wide" title="an ML role: the fullest node's record queue in front of its runner">runner queue</th><th class="wide" title="an ML role: the fullest node's shared-memory ring into its runner process">runner ring</th></tr></thead><tbody></tbody></table></div></section>
  <section class="card"><h2>Restarts</h2><ol id="restarts" class="timeline"><li class="muted">none</li></ol></section>
</main>
<script src="/assets/uplot.js"></script>
<script>${client}</script>
</body>
</html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const style = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --text: #1d232b; --muted: #6b7480; --line: #e3e6ea;
  --ok: #1f9d55; --bad: #d64545; --warn: #d98c00; --info: #2f6fdb; }
@media (prefers-color-scheme: dark) { :root { --bg: #12161b; --card: #1b2128; --text: #e6e9ed; --muted: #8d96a1; --line: #2b333c; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 14px; padding: 12px 16px; background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
h1 { font-size: 18px; margin: 0; overflow-wrap: anywhere; }
h2 { font-size: 14px; margin: 0 0 8px; }
main { display: grid; grid-template-columns: minmax(0, 1fr); gap: 12px; padding: 12px; max-width: 1400px; margin: 0 auto; }
main > *, #clusters { min-width: 0; }
#clusters { display: grid; gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px; min-width: 0; }
.charts { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
@media (max-width: 800px) { .charts { grid-template-columns: minmax(0, 1fr); } main { padding: 8px; } }
.chart { width: 100%; min-height: 220px; overflow: hidden; }
.muted { color: var(--muted); }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 12px; background: var(--line); }
.pill[data-status="running"], .pill[data-status="registered"], .pill[data-status="registering"] { background: #dce8fb; color: #1d4fa8; }
.pill[data-status="succeeded"], .pill[data-status="finished"] { background: #d5f2e1; color: #13663a; }
.pill[data-status="failed"] { background: #fadcdc; color: #9c2222; }
.pill[data-status="restarting"], .pill[data-status="failing-over"], .pill[data-status="cancelled"] { background: #fbecd0; color: #8a5a00; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.bar { position: relative; display: inline-block; width: 70px; height: 8px; border-radius: 4px; background: var(--line); vertical-align: middle; margin-right: 6px; }
.bar > i { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; background: var(--info); }
.bar.slow > i { background: var(--bad); }
.timeline { margin: 0; padding-left: 20px; }
.timeline li { margin: 4px 0; }
.reason { font-weight: 600; color: var(--warn); }
.failure { color: var(--bad); white-space: normal; min-width: 200px; }
@media (max-width: 600px) { .wide { display: none; } td, th { padding: 4px 5px; } }
`;

const client = String.raw`
(function () {
  var token = new URLSearchParams(location.search).get('token') || '';
  var palette = ['#2f6fdb', '#d64545', '#1f9d55', '#d98c00', '#8e44ad', '#16a2b8', '#7f8c8d', '#c0392b'];
  var charts = {};
  var latest;

  function human(value) {
    if (value === undefined || value === null || !isFinite(value)) return '–';
    var abs = Math.abs(value);
    if (abs >= 1e9) return (value / 1e9).toFixed(1) + 'G';
    if (abs >= 1e6) return (value / 1e6).toFixed(1) + 'M';
    if (abs >= 1e3) return (value / 1e3).toFixed(1) + 'k';
    if (Number.isInteger(value)) return String(value);
    return abs >= 100 ? value.toFixed(0) : abs >= 1 ? value.toFixed(2) : value.toPrecision(3);
  }
  function seconds(ms) { return (ms / 1000).toFixed(1) + ' s'; }
  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    for (var key in attributes || {}) {
      if (key === 'text') node.textContent = attributes[key];
      else if (key === 'className') node.className = attributes[key];
      else node.setAttribute(key, attributes[key]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function pill(status) { return el('span', { className: 'pill', 'data-status': status, text: status }); }
  function bar(ratio, slow) {
    var outer = el('span', { className: 'bar' + (slow ? ' slow' : '') });
    var inner = el('i');
    inner.style.width = Math.round(Math.max(0, Math.min(1, ratio)) * 100) + '%';
    outer.appendChild(inner);
    return outer;
  }
  function td(text, className) { return el('td', { text: text, className: className || '' }); }
  /** A 0..1 share as a bar and a percentage (over half: red); a dash when there is none. */
  function share(ratio, name, className) {
    var cell = el('td', { 'data-metric': name, className: className || '' });
    if (ratio === undefined || ratio === null) { cell.textContent = '–'; return cell; }
    cell.setAttribute('data-value', String(ratio));
    cell.appendChild(bar(ratio, ratio > 0.5));
    cell.appendChild(document.createTextNode(Math.round(ratio * 100) + '%'));
    return cell;
  }

  function renderClusters(state) {
    var root = document.getElementById('clusters');
    root.replaceChildren();
    state.clusters.forEach(function (cluster) {
      var rows = cluster.nodes.map(function (node) {
        var name = node.role + '[' + node.index + ']';
        var ratio = node.throughputVsRoleMedian;
        var vs = el('td', { className: 'num' });
        if (ratio !== undefined && ratio !== null) {
          vs.appendChild(bar(ratio / 1.5, ratio < 0.8));
          vs.appendChild(document.createTextNode(ratio.toFixed(2) + '×'));
        } else vs.textContent = '–';
        var statusCell = el('td', {}, [pill(node.status)]);
        return el('tr', { 'data-node': name, 'data-status': node.status }, [
          td(name), statusCell, td(String(node.attempt), 'num'), td(String(node.generation), 'num'),
          td(node.host || '–', 'wide'),
          td(node.throughput === undefined || node.throughput === null ? '–' : human(node.throughput) + '/s', 'num'),
          vs,
          td(node.metrics.loss === undefined ? '–' : human(node.metrics.loss), 'num'),
          td(node.metrics.step === undefined ? '–' : human(node.metrics.step), 'num'),
          td(node.heartbeatAgeMs === undefined || node.heartbeatAgeMs === null ? '–' : (node.heartbeatAgeMs / 1000).toFixed(1) + ' s', 'num'),
          td(node.lastFailure || '', 'failure wide'),
        ]);
      });
      var head = el('tr', {}, ['node', 'state', 'attempt', 'gen', 'host', 'throughput', 'vs role median', 'loss', 'step', 'heartbeat', 'last failure']
        .map(function (label, i) { return el('th', { text: label, className: i === 4 || i === 10 ? 'wide' : '' }); }));
      var title = el('h2', { text: 'cluster ' + cluster.name + ' ' }, [pill(cluster.state)]);
      title.appendChild(document.createTextNode(' generation ' + cluster.generation + ' · restarts ' + cluster.restarts));
      var card = el('div', { className: 'card', 'data-cluster': cluster.name }, [
        title,
        el('div', { className: 'scroll' }, [el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)])]),
      ]);
      root.appendChild(card);
    });
  }

  function seriesData(state, column) {
    var nodes = [];
    state.clusters.forEach(function (cluster) {
      cluster.nodes.forEach(function (node) {
        if (node.history.some(function (point) { return point[column] !== null; }))
          nodes.push({ label: cluster.name + ' ' + node.role + '[' + node.index + ']', history: node.history });
      });
    });
    var times = {};
    nodes.forEach(function (node) { node.history.forEach(function (point) { times[point[0]] = true; }); });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    var data = [xs.map(function (x) { return (x - state.startedAt) / 1000; })];
    nodes.forEach(function (node) {
      var ys = xs.map(function () { return null; });
      node.history.forEach(function (point) { ys[index[point[0]]] = point[column]; });
      data.push(ys);
    });
    return { labels: nodes.map(function (node) { return node.label; }), data: data, points: xs.length };
  }

  function renderChart(id, state, column, unit) {
    var target = document.getElementById(id);
    var series = seriesData(state, column);
    target.setAttribute('data-points', String(series.points));
    target.setAttribute('data-series', String(series.labels.length));
    var key = series.labels.join('|');
    // The card's width, not the chart's: a drawn chart keeps its own box as wide as it was.
    var width = Math.max(200, target.parentElement.clientWidth - 26);
    var chart = charts[id];
    if (!chart || chart.key !== key) {
      if (chart) chart.plot.destroy();
      target.replaceChildren();
      if (!series.labels.length) { target.appendChild(el('p', { className: 'muted', text: 'no data yet' })); charts[id] = undefined; return; }
      var options = {
        width: width, height: 220,
        scales: { x: { time: false } },
        axes: [{ label: 'seconds since start', stroke: '#8d96a1' }, { stroke: '#8d96a1', size: 60, values: function (u, values) { return values.map(function (v) { return human(v) + unit; }); } }],
        series: [{ label: 't (s)' }].concat(series.labels.map(function (label, i) {
          return { label: label, stroke: palette[i % palette.length], width: 2, spanGaps: true, points: { show: false } };
        })),
      };
      charts[id] = { key: key, plot: new uPlot(options, series.data, target) };
    } else {
      chart.plot.setData(series.data);
      if (Math.abs(chart.plot.width - width) > 4) chart.plot.setSize({ width: width, height: 220 });
    }
  }

  function renderOperators(state) {
    var body = document.querySelector('#operators tbody');
    body.replaceChildren();
    state.operators.forEach(function (operator) {
      body.appendChild(el('tr', { 'data-operator': operator.operator }, [
        td(operator.job), td(operator.operator), td(String(operator.parallelism), 'num'), td(human(operator.recordsIn), 'num'),
        td(human(operator.recordsOut), 'num'), td(human(operator.recordsInPerSecond), 'num'),
        td(human(operator.recordsOutPerSecond), 'num'),
        share(operator.backpressure, 'backpressured'), share(operator.inputQueueFill, 'input-queue'),
        share(operator.roleQueueFill, 'runner-queue', 'wide'), share(operator.roleRingFill, 'runner-ring', 'wide'),
      ]));
    });
    if (!state.operators.length) body.appendChild(el('tr', {}, [el('td', { className: 'muted', text: 'no pipeline metrics yet', colspan: '11' })]));
  }

  function renderRestarts(state) {
    var list = document.getElementById('restarts');
    list.replaceChildren();
    if (!state.restarts.length) { list.appendChild(el('li', { className: 'muted', text: 'none' })); return; }
    state.restarts.forEach(function (restart) {
      var item = el('li', { 'data-reason': restart.reason }, [
        el('span', { className: 'muted', text: '+' + seconds(restart.at - state.startedAt) + ' ' }),
        el('span', { text: restart.cluster + ' → generation ' + restart.generation + ' (' + restart.policy + ', ' + restart.nodes.join(', ') + '): ' }),
        el('span', { className: 'reason', text: restart.reason }),
        el('span', { text: restart.message ? ' — ' + restart.message : '' }),
      ]);
      list.appendChild(item);
    });
  }

  function render(state) {
    latest = state;
    var outcome = document.getElementById('outcome');
    var status = state.outcome ? state.outcome.status : 'running';
    outcome.textContent = state.outcome ? status + ' in ' + seconds(state.outcome.durationMs) : 'running';
    outcome.setAttribute('data-status', status);
    var nodes = 0, restarts = 0;
    state.clusters.forEach(function (cluster) { nodes += cluster.nodes.length; restarts += cluster.restarts; });
    document.getElementById('summary').textContent = seconds((state.outcome ? state.outcome.durationMs : state.now - state.startedAt)) +
      (state.progress ? ' · ' + Math.floor(state.progress.total > 0 ? (100 * state.progress.done) / state.progress.total : 100) +
        '% of the source records (' + human(state.progress.done) + ' of ' + human(state.progress.total) + ')' : '') +
      ' · ' + state.clusters.length + ' cluster(s) · ' + nodes + ' node(s) · ' + restarts + ' restart(s)' +
      (state.outcome && state.outcome.error ? ' · ' + state.outcome.error.split('\n')[0] : '');
    renderClusters(state);
    renderChart('throughput-chart', state, 1, '');
    renderChart('loss-chart', state, 2, '');
    renderOperators(state);
    renderRestarts(state);
  }

  var source = new EventSource('/events?token=' + encodeURIComponent(token));
  source.addEventListener('state', function (message) { render(JSON.parse(message.data)); });
  source.onerror = function () {
    var outcome = document.getElementById('outcome');
    if (!latest || !latest.outcome) { outcome.textContent = 'disconnected (retrying)'; outcome.setAttribute('data-status', 'failed'); }
    if (latest && latest.outcome) source.close();
  };
  window.addEventListener('resize', function () { if (latest) render(latest); });
})();
`;
