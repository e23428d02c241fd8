/**
 * The live page, whole: markup, style and script in one document, so it works with no network beyond the node.
 * Hand-written: the tree is a few dozen SVG shapes, and a chart library would outweigh the page.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mycroft-mesh</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { display: flex; gap: 1em; align-items: baseline; padding: .8em 1.2em; background: #1d2330; color: #fff; }
  header h1 { font-size: 1.1em; margin: 0; }
  #connection { font-size: .9em; opacity: .85; }
  #connection.down { color: #ffb347; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; padding: 1em; }
  section { background: #fff; border-radius: 6px; padding: .8em 1em; box-shadow: 0 1px 2px #0002; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 1em; margin: 0 0 .5em; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: .2em .5em; border-bottom: 1px solid #eee; font-size: .92em; }
  .empty { color: #889; }
  svg text { font-size: 12px; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
  .node circle { stroke: #fff; stroke-width: 2; }
  .node[data-state=linked] circle { fill: #2e9d57; }
  .node[data-state=self] circle { fill: #2f6fd6; }
  .node[data-state=offline] circle, .node[data-state=none] circle { fill: #c8433a; }
  .node[data-state=connecting] circle { fill: #e0a21b; }
  .edge { stroke: #aab; stroke-width: 1.5; }
  progress { width: 10em; }
</style>
</head>
<body>
<header><h1 id="title">mycroft-mesh</h1><span id="connection">connecting…</span></header>
<main>
  <section class="wide"><h2>The tree</h2><svg id="tree" width="100%" height="220" role="img" aria-label="the tree of nodes"></svg></section>
  <section><h2>Recent questions</h2><table id="asks"><tr><td class="empty">none yet</td></tr></table></section>
  <section><h2>Refused</h2><table id="refusals"><tr><td class="empty">nothing refused</td></tr></table></section>
  <section class="wide"><h2>Transfers</h2><table id="transfers"><tr><td class="empty">no transfers</td></tr></table></section>
</main>
<script>
const token = new URLSearchParams(location.search).get('token') || ''
const SVG = 'http://www.w3.org/2000/svg'
const el = (tag, attrs, text) => { const e = document.createElementNS(tag === 'svg' || ['g', 'circle', 'line', 'text'].includes(tag) ? SVG : 'http://www.w3.org/1999/xhtml', tag); for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e }
const ms = v => v === null || v === undefined ? '' : (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ms'
let state = { tree: null, asks: [], refusals: [], transfers: [] }

function drawTree (tree) {
  const svg = document.getElementById('tree')
  svg.replaceChildren()
  if (!tree) return
  const root = tree.parent ? { name: tree.parent.name || 'parent', state: tree.parent.state, rttMs: tree.parent.rttMs, children: [tree.node], parentOfThis: true } : tree.node
  let slot = 0
  const place = (node, depth) => {
    node.depth = depth
    if (node.children.length === 0) node.x = slot++
    else { node.children.forEach(child => place(child, depth + 1)); node.x = (node.children[0].x + node.children[node.children.length - 1].x) / 2 }
  }
  place(root, 0)
  const width = svg.clientWidth || 800
  const step = Math.min(160, width / Math.max(1, slot))
  const x = n => 40 + n.x * step + (width - 80 - (slot - 1) * step) / 2
  const y = n => 30 + n.depth * 70
  let depthMax = 0
  const walk = (node) => {
    depthMax = Math.max(depthMax, node.depth)
    for (const child of node.children) { svg.append(el('line', { class: 'edge', x1: x(node), y1: y(node), x2: x(child), y2: y(child) })); walk(child) }
  }
  walk(root)
  const label = (node) => {
    const g = el('g', { class: 'node', 'data-name': node.name, 'data-state': node.state })
    g.append(el('circle', { cx: x(node), cy: y(node), r: 10 }))
    g.append(el('text', { x: x(node), y: y(node) + 26, 'text-anchor': 'middle' }, node.name + (node.state === 'self' ? ' (this node)' : node.parentOfThis ? ' (parent)' : '')))
    g.append(el('text', { x: x(node), y: y(node) + 40, 'text-anchor': 'middle', fill: '#667' }, node.state === 'self' ? '' : node.state + (node.rttMs === null || node.rttMs === undefined ? '' : ' · ' + ms(node.rttMs))))
    svg.append(g)
    node.children.forEach(label)
  }
  label(root)
  svg.setAttribute('height', String(80 + depthMax * 70))
}

function fill (id, rows, empty, cells) {
  const table = document.getElementById(id)
  table.replaceChildren()
  if (rows.length === 0) { const tr = el('tr'); tr.append(el('td', { class: 'empty' }, empty)); table.append(tr); return }
  for (const row of rows) { const tr = el('tr'); for (const cell of cells(row)) tr.append(typeof cell === 'string' ? el('td', {}, cell) : cell); table.append(tr) }
}

function render () {
  if (state.tree) { document.getElementById('title').textContent = 'mycroft-mesh · ' + state.tree.node.name; drawTree(state.tree) }
  fill('asks', state.asks, 'none yet', a => [new Date(a.at).toLocaleTimeString(), a.asker, '“' + a.utterance + '”', a.status + (a.answeredBy ? ' by ' + a.answeredBy : ''), ms(a.ms)])
  fill('refusals', state.refusals, 'nothing refused', r => [new Date(r.at).toLocaleTimeString(), r.peer, r.code, r.reason])
  fill('transfers', state.transfers, 'no transfers', t => {
    const bar = el('td'); const p = el('progress', { max: String(Math.max(1, t.size)), value: String(t.bytes) }); bar.append(p)
    return [t.direction === 'send' ? 'to ' + t.peer : 'from ' + t.peer, t.name, bar, t.state]
  })
}

const connection = document.getElementById('connection')
// the browser reconnects by itself after a dropped stream, but gives up when the node is down at that moment:
// then a new EventSource is made, every two seconds, until the node answers again
function connect () {
  const events = new EventSource('/events?token=' + encodeURIComponent(token))
  events.onopen = () => { connection.textContent = 'live'; connection.className = '' }
  events.onerror = () => {
    connection.textContent = 'the node is away: reconnecting…'
    connection.className = 'down'
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 2000)
  }
  events.addEventListener('state', e => { state = JSON.parse(e.data); render() })
  events.addEventListener('ask', e => { state.asks = [JSON.parse(e.data), ...state.asks].slice(0, 50); render() })
  events.addEventListener('refusal', e => { state.refusals = [JSON.parse(e.data), ...state.refusals].slice(0, 50); render() })
  events.addEventListener('transfer', e => { const t = JSON.parse(e.data); state.transfers = [t, ...state.transfers.filter(x => x.id !== t.id)].slice(0, 50); render() })
}
connect()
</script>
</body>
</html>
`
