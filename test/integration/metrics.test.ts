import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../../support/ports.ts'
import { waitFor } from '../../support/wait.ts'
import { Rooms } from '../helpers/rooms.ts'

/** The metrics endpoint of a real node, scraped and parsed as Prometheus would, while questions travel. */

const QUESTION = 'how far is the moon'
const ANSWER = 'About 384,000 kilometres.'

describe('metrics', () => {
  const rooms = new Rooms()
  afterAll(async () => { await rooms.cleanup() })

  it('a node with --metrics serves its figures and libp2p\'s in the Prometheus text format, and they move as questions go', async () => {
    const port = await freePort()
    const brain = await rooms.room('brain', { assistant: { answers: { [QUESTION]: ANSWER } } })
    const kitchen = await rooms.room('kitchen', { parent: brain, extraArgs: ['--metrics', `127.0.0.1:${port}`] })
    const url = `http://127.0.0.1:${port}/metrics`
    const scrape = async (): Promise<Map<string, MetricFamily>> => {
      const response = await fetch(url)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      return new Map(parsePrometheusTextFormat(await response.text()).map(family => [family.name, family]))
    }
    const value = (families: Map<string, MetricFamily>, name: string): number => Number(families.get(name)?.metrics[0]?.value ?? NaN)

    const before = await scrape()
    expect(before.get('mycroft_mesh_asks_asks_sent_total')?.type).toBe('COUNTER')
    expect(before.get('mycroft_mesh_asks_asks_sent_total')?.help).toBe('questions this node sent to its parent')
    expect(value(before, 'mycroft_mesh_asks_asks_sent_total')).toBe(0)
    expect(before.get('mycroft_mesh_asks_waiting')?.type).toBe('GAUGE')
    expect(before.get('mycroft_mesh_access_refused_links_total')?.type).toBe('COUNTER')
    // libp2p's own, and the process's memory
    expect([...before.keys()].some(name => name.startsWith('libp2p_'))).toBe(true)
    expect(value(before, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024)
    // Prometheus conventions: counters end in _total, and no label carries a peer id
    for (const family of before.values()) {
      if (family.name.startsWith('mycroft_mesh_') && family.type === 'COUNTER') expect(family.name).toMatch(/_total$/)
      for (const metric of family.metrics) for (const label of Object.values(metric.labels ?? {})) expect(label).not.toMatch(/12D3Koo/)
    }

    kitchen.bus.emit({ type: 'complete_intent_failure', data: { utterances: [QUESTION], lang: 'en-US' }, context: {} })
    await kitchen.bus.waitFor('the answer in the kitchen', m => m.type === 'speak' && m.data.utterance === ANSWER, 10_000)
    const after = await waitFor('the figures to move', async () => {
      const families = await scrape()
      return value(families, 'mycroft_mesh_asks_answered_total') === 1 ? families : undefined
    })
    expect(value(after, 'mycroft_mesh_asks_asks_sent_total')).toBe(1)
    // the question's time, in a histogram by hop and outcome (the parser keeps a histogram's buckets, not its labels)
    const durations = after.get('mycroft_mesh_ask_duration_seconds')
    expect(durations?.type).toBe('HISTOGRAM')
    expect(Number(durations?.metrics[0]?.buckets?.['+Inf'])).toBe(1)
    const text = await (await fetch(url)).text()
    expect(text).toMatch(/^mycroft_mesh_ask_duration_seconds_count\{hop="asked",outcome="answered"\} 1$/m)
    expect(JSON.stringify([...after.values()])).not.toContain(QUESTION)

    const elsewhere = await fetch(`http://127.0.0.1:${port}/`)
    expect(elsewhere.status).toBe(404)
  })
})
