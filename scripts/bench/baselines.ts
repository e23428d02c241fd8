/**
 * The bare wire, measured in the same run as the mesh so the figures can be given as ratios: raw TCP round
 * trips and throughput, and raw websocket messages per second, each against a peer in its own process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { quantile } from './stats.ts'

export interface HelperProcess {
  port: number
  stop: () => void
}

/** Starts one of the bench's helper scripts and waits for the port it prints. */
export async function startHelper (script: string, args: string[] = []): Promise<HelperProcess> {
  const proc: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let text = ''
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk
      if (text.includes('\n')) resolve(Number(text.trim()))
    })
    proc.once('exit', code => { reject(new Error(`${script} exited with ${code}`)) })
  })
  return { port, stop: () => { proc.kill() } }
}

async function openSocket (port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve).once('error', reject) })
  return socket
}

/** Round trips of a 200-byte message to an echo peer, in milliseconds. */
export async function rawTcpRoundTrip (samples: number): Promise<{ p50: number, p99: number }> {
  const peer = await startHelper('./tcp-echo.ts', ['echo'])
  const socket = await openSocket(peer.port)
  const message = Buffer.alloc(200, 7)
  const times: number[] = []
  try {
    for (let i = 0; i < samples + 100; i++) {
      const started = performance.now()
      let got = 0
      await new Promise<void>(resolve => {
        const onData = (chunk: Buffer): void => {
          got += chunk.byteLength
          if (got < message.byteLength) return
          socket.off('data', onData)
          resolve()
        }
        socket.on('data', onData)
        socket.write(message)
      })
      if (i >= 100) times.push(performance.now() - started)
    }
  } finally {
    socket.destroy()
    peer.stop()
  }
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) }
}

/** Bytes per second one way to a peer that answers once it has had them all. */
export async function rawTcpThroughput (bytes: number, chunkBytes: number): Promise<number> {
  const peer = await startHelper('./tcp-echo.ts', ['sink', String(bytes)])
  const socket = await openSocket(peer.port)
  const chunk = Buffer.alloc(chunkBytes, 120)
  try {
    const started = performance.now()
    const done = new Promise<void>(resolve => socket.once('data', () => { resolve() }))
    for (let sent = 0; sent < bytes; sent += chunkBytes) {
      if (!socket.write(chunk)) await new Promise(resolve => socket.once('drain', resolve))
    }
    await done
    return bytes / ((performance.now() - started) / 1000)
  } finally {
    socket.destroy()
    peer.stop()
  }
}

/** Messagebus-sized JSON messages per second over one raw websocket to a peer that parses each. */
export async function rawWsMessagesPerSecond (messages: number, message: string): Promise<number> {
  const peer = await startHelper('./ws-sink.ts', [String(messages)])
  const socket = new WebSocket(`ws://127.0.0.1:${peer.port}`)
  try {
    await new Promise<void>((resolve, reject) => { socket.once('open', () => { resolve() }).once('error', reject) })
    const done = new Promise<void>(resolve => socket.once('message', () => { resolve() }))
    const started = performance.now()
    for (let i = 0; i < messages; i++) {
      socket.send(message)
      if (socket.bufferedAmount > 4 * 1024 * 1024) await new Promise(resolve => setTimeout(resolve, 1))
    }
    await done
    return messages / ((performance.now() - started) / 1000)
  } finally {
    socket.terminate()
    peer.stop()
  }
}

/** Round trips of a bus-sized JSON message to a websocket peer that parses it and sends it back, in milliseconds. */
export async function rawWsRoundTrip (samples: number, message: string): Promise<number[]> {
  const peer = await startHelper('./ws-sink.ts', ['echo'])
  const socket = new WebSocket(`ws://127.0.0.1:${peer.port}`)
  try {
    await new Promise<void>((resolve, reject) => { socket.once('open', () => { resolve() }).once('error', reject) })
    const times: number[] = []
    for (let i = 0; i < samples; i++) {
      const back = new Promise(resolve => socket.once('message', resolve))
      const started = performance.now()
      socket.send(message)
      await back
      times.push(performance.now() - started)
    }
    return times
  } finally {
    socket.terminate()
    peer.stop()
  }
}
