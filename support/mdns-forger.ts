/**
 * A forged mDNS responder, run inside a test's namespace: answers every query for a house's hub tag (public on the
 * LAN) with an address of the test's choosing, as an attacker on the LAN could.
 *
 *   ip netns exec NS node support/mdns-forger.ts TAG /ip4/10.88.1.9/tcp/4773/p2p/12D3Koo…
 */
import multicastDns from 'multicast-dns'

const [tag, dnsaddr] = process.argv.slice(2)
if (tag === undefined || dnsaddr === undefined) {
  process.stderr.write('usage: mdns-forger.ts TAG MULTIADDR\n')
  process.exit(2)
}
const mdns = multicastDns()
const name = `forged.${tag}`
mdns.on('query', query => {
  if (query.questions[0]?.name !== tag) return
  mdns.respond([
    { name: tag, type: 'PTR', class: 'IN', ttl: 120, data: name },
    { name, type: 'TXT', class: 'IN', ttl: 120, data: `dnsaddr=${dnsaddr}` }
  ])
  process.stdout.write('answered\n')
})
process.on('SIGTERM', () => { mdns.destroy(); process.exit(0) })
