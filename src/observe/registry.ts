/** What status shows of one section: figures by name (numbers, or small records and lists read when asked). */
export type Figures = Record<string, unknown>

/** Each counter's name and what it counts, in words: the names come from here, the words are for a metrics endpoint's help. */
export type CounterHelp<K extends string> = Record<K, string>

interface Section {
  counters: Array<Record<string, number>>
  labelled: Map<string, Record<string, number>>
  readings: Array<() => object>
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

  private section (name: string): Section {
    let section = this.sections.get(name)
    if (section === undefined) {
      section = { counters: [], labelled: new Map(), readings: [] }
      this.sections.set(name, section)
    }
    return section
  }
}
