import { BlockList, isIP } from 'node:net'

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address. */
export function parseCidr (text: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText] = text.trim().split('/')
  const version = isIP(address)
  if (version === 0) return undefined
  const family = version === 4 ? 'ipv4' : 'ipv6'
  const max = version === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : Number(prefixText)
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined
  return { address, prefix, family }
}

/** A test for "is this IP inside any of these CIDRs". */
export function ipMatcher (cidrs: readonly string[]): (ip: string) => boolean {
  const list = new BlockList()
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr)
    if (parsed !== undefined) list.addSubnet(parsed.address, parsed.prefix, parsed.family)
  }
  return ip => list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6')
}

/** The IP of a multiaddr, e.g. /ip4/1.2.3.4/tcp/5 → 1.2.3.4. */
export function ipOf (addr: string): string | undefined {
  const [, kind, address] = addr.split('/')
  return kind === 'ip4' || kind === 'ip6' ? address : undefined
}
