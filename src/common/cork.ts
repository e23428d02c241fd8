import type { Socket } from 'node:net'

const corked = new Set<Socket>()

function uncorkAll (): void {
  for (const socket of corked) socket.uncork()
  corked.clear()
}

/** Holds a socket's writes until the end of the tick, so that all a tick writes to it leaves in one syscall. */
export function corkForTick (socket: Socket): void {
  if (corked.has(socket)) return
  if (corked.size === 0) process.nextTick(uncorkAll)
  corked.add(socket)
  socket.cork()
}
