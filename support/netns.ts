/**
 * A LAN of network namespaces the test makes itself: one namespace per device, each with one veth end on a bridge
 * inside a namespace of its own, addresses 10.88.N.x/24, and the multicast route mDNS needs (a namespace with no
 * default route has none, and multicast-dns then fails silently). Nothing reaches the machine's own network.
 * Needs root and `ip` (iproute2): `lanSkip()` says why not, loudly, for a skip.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

export interface Device {
  /** the namespace's name, for `ip netns exec` */
  ns: string
  /** its address on the LAN */
  ip: string
}

function ip (...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Why namespaces cannot be made here, or undefined when they can. */
function lanUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'making network namespaces needs root (CI runs as root)'
  if (spawnSync('ip', ['-V']).status !== 0) return 'making network namespaces needs `ip` from iproute2 (Debian: apt-get install iproute2)'
  return undefined
}

/** Why `what` cannot run here, said loudly once, or undefined when a LAN of namespaces can be made. */
export function lanSkip (what: string): string | undefined {
  const unavailable = lanUnavailable()
  // eslint-disable-next-line no-console
  if (unavailable !== undefined) console.warn(`SKIPPING ${what}: ${unavailable}`)
  return unavailable
}

export class Lan {
  readonly devices: Device[] = []
  private readonly id = randomBytes(3).toString('hex')
  private readonly bridgeNs: string
  private readonly subnet: number
  /** each device's veth end on the bridge: its cable, as the switch sees it */
  private readonly ports = new Map<Device, string>()

  constructor () {
    this.bridgeNs = `mm-${this.id}-br`
    this.subnet = 1 + (randomBytes(1)[0] ?? 0) % 250
    ip('netns', 'add', this.bridgeNs)
    ip('-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', this.bridgeNs, 'link', 'set', 'br0', 'up')
  }

  /** A new device on the LAN. */
  device (): Device {
    const n = this.devices.length + 1
    const ns = `mm-${this.id}-${n}`
    const device = { ns, ip: `10.88.${this.subnet}.${n}` }
    ip('netns', 'add', ns)
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    ip('link', 'add', `mm${this.id}d${n}`, 'netns', ns, 'type', 'veth', 'peer', 'name', `mm${this.id}b${n}`, 'netns', this.bridgeNs)
    ip('-n', this.bridgeNs, 'link', 'set', `mm${this.id}b${n}`, 'master', 'br0', 'up')
    this.ports.set(device, `mm${this.id}b${n}`)
    ip('-n', ns, 'link', 'set', `mm${this.id}d${n}`, 'name', 'eth0')
    this.address(device, device.ip)
    ip('-n', ns, 'link', 'set', 'eth0', 'multicast', 'on', 'up')
    ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    this.devices.push(device)
    return device
  }

  /** Gives a device another address, as DHCP might after a restart. */
  readdress (device: Device, n: number): void {
    ip('-n', device.ns, 'addr', 'flush', 'dev', 'eth0')
    device.ip = `10.88.${this.subnet}.${n}`
    this.address(device, device.ip)
    ip('-n', device.ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
  }

  /**
   * Pulls the device's cable out of the switch: what it sends is lost and nothing reaches it, and neither side
   * is told (no FIN, no RST; the device keeps its address), as when a plug comes out or a board loses power.
   */
  unplug (device: Device): void {
    ip('-n', this.bridgeNs, 'link', 'set', this.port(device), 'down')
  }

  plug (device: Device): void {
    ip('-n', this.bridgeNs, 'link', 'set', this.port(device), 'up')
  }

  private port (device: Device): string {
    const port = this.ports.get(device)
    if (port === undefined) throw new Error(`${device.ns} is not a device of this LAN`)
    return port
  }

  /** Removes every namespace (their veths and the bridge go with them). */
  remove (): void {
    for (const ns of [...this.devices.map(device => device.ns), this.bridgeNs]) spawnSync('ip', ['netns', 'del', ns])
  }

  private address (device: Device, address: string): void {
    ip('-n', device.ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
  }
}
