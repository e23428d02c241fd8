/** What status shows of one section: figures by name (numbers, or small records and lists read when asked). */
export type Figures = Record<string, unknown>

/** Each counter's name and what it counts, in words: the names come from here, the words are for a metrics endpoint's help. */
export type CounterHelp<K extends string> = Record<K, string>

interface Section {
  counters: Array<Record<string, number>>
  /** what each counter counts, in words */
  help: Map<string, string>
  labelled: Map<string, Record<string, number>>
  readings: Array<() => object>
}

/** One figure as the metrics endpoint sees it: a counter (by label, when `labelled`), or a number read when asked. */
export interface FigureDescription {
  section: string
  name: string
  kind: 'counter' | 'labelled' | 'reading'
  help: string
  /** the value now; a labelled counter's counts by label */
  read: () => number | Record<string, number>
}

/**
 * The node's figures in one place: each capability registers its counters and readings under a section of
 * its own; `status` and the metrics endpoint read them all from here, so a new capability shows up in both
 * without either learning about it. Counters are plain objects the owner increments (a hot path pays one
 * property write); one registry per node, never a global, so that several nodes can share a process.
 */
export class FigureRegistry {
  private readonly sections = new Map<string, Section>()

  /** Counters of `section`, all starting at 0. */
  counters<K extends string> (section: string, help: CounterHelp<K>): Record<K, number> {
    const entry = this.section(section)
    const counters = Object.fromEntries(Object.keys(help).map(name => [name, 0])) as Record<K, number>
    entry.counters.push(counters)
    for (const [name, words] of Object.entries<string>(help)) entry.help.set(name, words)
    return counters
  }

  /** A counter by label (a small fixed set, such as refusal codes): `counts[label] = (counts[label] ?? 0) + 1`. */
  labelled (section: string, name: string): Partial<Record<string, number>> {
    const counts: Record<string, number> = {}
    this.section(section).labelled.set(name, counts)
    return counts
  }

  /** Figures worked out when they are read (states, lists, gauges). */
  reading (section: string, read: () => object): void {
    this.section(section).readings.push(read)
  }

  /** Every section as it stands now, copied. */
  snapshot (): Record<string, Figures> {
    const out: Record<string, Figures> = {}
    for (const [name, section] of this.sections) {
      const figures: Figures = {}
      for (const read of section.readings) Object.assign(figures, read())
      for (const counters of section.counters) Object.assign(figures, counters)
      for (const [label, counts] of section.labelled) figures[label] = { ...counts }
      out[name] = figures
    }
    return out
  }

  /**
   * Every figure registered now, with a way to read it: counters, labelled counters, and the numbers among the
   * readings (states and lists are for `status`, not for metrics).
   */
  describe (): FigureDescription[] {
    const described: FigureDescription[] = []
    for (const [sectionName, section] of this.sections) {
      for (const counters of section.counters) {
        for (const name of Object.keys(counters)) described.push({ section: sectionName, name, kind: 'counter', help: section.help.get(name) ?? name, read: () => counters[name] ?? 0 })
      }
      for (const [name, counts] of section.labelled) described.push({ section: sectionName, name, kind: 'labelled', help: name, read: () => ({ ...counts }) })
      for (const read of section.readings) {
        for (const [name, value] of Object.entries(read())) {
          if (typeof value === 'number') described.push({ section: sectionName, name, kind: 'reading', help: name, read: () => Number((read() as Record<string, unknown>)[name] ?? 0) })
        }
      }
    }
    return described
  }

  private section (name: string): Section {
    let section = this.sections.get(name)
    if (section === undefined) {
      section = { counters: [], help: new Map(), labelled: new Map(), readings: [] }
      this.sections.set(name, section)
    }
    return section
  }
}
