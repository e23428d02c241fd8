/** A Mycroft/OVOS messagebus message: one JSON text frame. */
export interface BusMessage {
  type: string
  data: Record<string, unknown>
  context: Record<string, unknown>
}

/** The text of a websocket frame; undefined for a binary frame, which the Mycroft bus never carries. */
export function frameText (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): string | undefined {
  if (isBinary) return undefined
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return (data instanceof ArrayBuffer ? Buffer.from(data) : data).toString('utf8')
}

/** Reads one text frame; undefined when it is not a JSON object with a string `type`. */
export function parseBusMessage (text: string): BusMessage | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { type, data, context } = value as Record<string, unknown>
  if (typeof type !== 'string' || type === '') return undefined
  return {
    type,
    data: isRecord(data) ? data : {},
    context: isRecord(context) ? context : {}
  }
}

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A new message that keeps the context of `message`, as the OVOS client's `Message.forward`. */
export function forward (message: BusMessage, type: string, data: Record<string, unknown> = {}, extraContext: Record<string, unknown> = {}): BusMessage {
  return { type, data, context: { ...message.context, ...extraContext } }
}

/** A new message back to the sender of `message`: source and destination swapped, as `Message.reply`. */
export function reply (message: BusMessage, type: string, data: Record<string, unknown> = {}, extraContext: Record<string, unknown> = {}): BusMessage {
  const context: Record<string, unknown> = { ...message.context, ...extraContext }
  context.destination = message.context.source
  context.source = message.context.destination
  return { type, data, context }
}

/** The session id a message belongs to ("default" when it names none, as OVOS does). */
export function sessionId (message: BusMessage): string {
  const session = message.context.session
  return isRecord(session) && typeof session.session_id === 'string' ? session.session_id : 'default'
}

/** The names in `context.destination` (a string or a list). */
export function destinationsOf (message: BusMessage): string[] {
  const destination = message.context.destination
  const targets = Array.isArray(destination) ? destination : [destination]
  return targets.filter((target): target is string => typeof target === 'string')
}

/** The utterances of a `recognizer_loop:utterance`-shaped payload. */
export function utterancesOf (data: Record<string, unknown>): string[] {
  if (Array.isArray(data.utterances)) return data.utterances.filter((u): u is string => typeof u === 'string')
  return typeof data.utterance === 'string' ? [data.utterance] : []
}
