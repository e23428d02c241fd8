import { StandInAssistant, type StandInOptions } from '../../support/stand-in-assistant.ts'
import { BusProbe } from '../../support/bus-probe.ts'
import { Homes, NodeProcess, type NodeProcessOptions } from '../../support/node-process.ts'
import type { NodeConfig } from '../../src/node/index.ts'
import { waitFor } from '../../support/wait.ts'

/** A node with an embedded bus, a probe on that bus, and optionally a stand-in assistant on it. */
export interface Room {
  node: NodeProcess
  bus: BusProbe
  assistant?: StandInAssistant
}

export interface RoomOptions {
  /** the parent room, or its address */
  parent?: Room | string
  assistant?: StandInOptions
  extraArgs?: string[]
  /** written to the room's config.json before it starts */
  config?: Partial<NodeConfig>
  /** a home the test made (and removes) itself; by default each room gets a fresh one */
  home?: string
}

/** The rooms one test file starts, and their cleanup. */
export class Rooms {
  readonly all: Room[] = []
  private readonly bare: NodeProcess[] = []
  private readonly homes = new Homes()

  async room (name: string, { parent, assistant, extraArgs = [], config, home }: RoomOptions = {}): Promise<Room> {
    const parentAddr = typeof parent === 'object' ? await parent.node.addr() : parent
    const node = new NodeProcess({ home: home ?? await this.homes.make(`mm-${name}-`), name, parent: parentAddr, bus: 'embedded:0', extraArgs, config })
    try {
      await node.start()
      const url = await waitFor(`${name}'s embedded bus to listen`, async () => (await node.status()).bus.url ?? undefined)
      const made: Room = { node, bus: await BusProbe.connect(url) }
      this.all.push(made)
      if (assistant !== undefined) made.assistant = await new StandInAssistant(assistant).connect(url)
      if (parentAddr !== undefined) await waitFor(`${name} to link`, async () => (await node.status()).parent.state === 'linked')
      return made
    } catch (err) {
      await node.kill()
      throw err
    }
  }

  /** A node with no bus of its own, in a home of its own, killed at the cleanup. */
  async node (options: Omit<NodeProcessOptions, 'home'>): Promise<NodeProcess> {
    const node = new NodeProcess({ home: await this.homes.make(`mm-${options.name}-`), ...options })
    this.bare.push(node)
    return node.start()
  }

  /** Keeps a room made elsewhere (a node restarted by the test) for the cleanup. */
  adopt (room: Room): Room {
    this.all.push(room)
    return room
  }

  async cleanup (): Promise<void> {
    for (const room of this.all.splice(0)) {
      await room.bus.close()
      room.assistant?.close()
      await room.node.kill()
    }
    await Promise.all(this.bare.splice(0).map(async node => node.kill()))
    await this.homes.cleanup()
  }
}
