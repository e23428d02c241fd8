import WebSocket from 'ws'

interface Message {
  type: string
  data: Record<string, unknown>
  context: Record<string, unknown>
}

export interface StandInOptions {
  /** question → answer, matched case-insensitively on the whole utterance */
  answers?: Record<string, string>
  /** a built-in "I don't know" fallback skill at priority 100, like OVOS's stock fallback-unknown, on the bus like it */
  fallbackUnknown?: boolean
  /** how long to collect fallback pongs (OVOS core waits 0.5 s) */
  pongWindowMs?: number
  /** how long a known answer takes */
  answerDelayMs?: number
}

export const STAND_IN_UNKNOWN_ID = 'stand-in.fallback-unknown'
export const STAND_IN_DONT_KNOW = 'Please rephrase your request.'

/**
 * A demo and test STAND-IN for an OVOS core, not the real one (the interop tests run real OVOS). It speaks the
 * same bus protocol for what the mesh relies on: a known utterance gets a `speak` that replies to the
 * utterance's context, then `ovos.utterance.handled`; an unknown one goes through the fallback round
 * (`ovos.skills.fallback.ping`, pongs, a `…request` to the lowest-priority taker, final as in ovos-core 2.x),
 * skipping skills blacklisted by the session; with no taker it ends in `complete_intent_failure`.
 */
export class StandInAssistant {
  readonly heard: Message[] = []
  private readonly answers: Map<string, string>
  private readonly options: StandInOptions
  private readonly fallbacks = new Map<string, number>()
  private socket?: WebSocket

  constructor (options: StandInOptions = {}) {
    this.options = options
    this.answers = new Map(Object.entries(options.answers ?? {}).map(([question, answer]) => [question.toLowerCase(), answer]))
  }

  async connect (url: string): Promise<this> {
    const socket = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => { resolve() })
      socket.once('error', reject)
    })
    socket.on('message', (data: Buffer) => { this.receive(JSON.parse(data.toString('utf8')) as Message) })
    // each utterance in a fallback round listens for its pongs: a burst of them is not a leak
    socket.setMaxListeners(0)
    this.socket = socket
    if (this.options.fallbackUnknown === true) {
      this.send({ type: 'ovos.skills.fallback.register', data: { skill_id: STAND_IN_UNKNOWN_ID, priority: 100 }, context: {} })
    }
    this.send({ type: 'mycroft.ready', data: {}, context: {} })
    return this
  }

  close (): void {
    this.socket?.close()
  }

  private send (message: Message): void {
    this.socket?.send(JSON.stringify(message))
  }

  private receive (message: Message): void {
    switch (message.type) {
      case 'recognizer_loop:utterance':
        this.heard.push(message)
        this.handleUtterance(message)
        break
      case 'ovos.skills.fallback.register':
        if (typeof message.data.skill_id === 'string') this.fallbacks.set(message.data.skill_id, Number(message.data.priority ?? 101))
        break
      case 'ovos.skills.fallback.deregister':
        if (typeof message.data.skill_id === 'string') this.fallbacks.delete(message.data.skill_id)
        break
      case 'ovos.skills.fallback.ping':
        // the built-in "I don't know" skill takes everything, as the stock one does
        if (this.options.fallbackUnknown === true) {
          this.send({ type: 'ovos.skills.fallback.pong', data: { skill_id: STAND_IN_UNKNOWN_ID, can_handle: true }, context: { ...message.context, skill_id: STAND_IN_UNKNOWN_ID } })
        }
        break
      case `ovos.skills.fallback.${STAND_IN_UNKNOWN_ID}.request`:
        this.sayDontKnow(message)
        break
    }
  }

  private handleUtterance (message: Message): void {
    const utterances = Array.isArray(message.data.utterances) ? message.data.utterances as string[] : []
    const answer = this.answers.get((utterances[0] ?? '').toLowerCase())
    const context = { ...message.context, source: message.context.destination, destination: message.context.source }
    if (answer !== undefined) {
      setTimeout(() => {
        this.send({ type: 'speak', data: { utterance: answer, expect_response: false, lang: message.data.lang ?? 'en-US', meta: { skill: 'stand-in.answers' } }, context: { ...context, skill_id: 'stand-in.answers' } })
        this.send({ type: 'ovos.utterance.handled', data: {}, context })
      }, this.options.answerDelayMs ?? 0)
      return
    }
    void this.fallbackRound(message, context)
  }

  private async fallbackRound (message: Message, context: Record<string, unknown>): Promise<void> {
    const session = (message.context.session ?? {}) as { blacklisted_skills?: string[] }
    const blacklisted = new Set(session.blacklisted_skills ?? [])
    const takers: string[] = []
    const onPong = (data: Buffer): void => {
      const pong = JSON.parse(data.toString('utf8')) as Message
      if (pong.type === 'ovos.skills.fallback.pong' && pong.data.can_handle === true && typeof pong.data.skill_id === 'string') takers.push(pong.data.skill_id)
    }
    this.socket?.on('message', onPong)
    this.send({ type: 'ovos.skills.fallback.ping', data: { ...message.data, range: [90, 101] }, context })
    await new Promise(resolve => setTimeout(resolve, this.options.pongWindowMs ?? 100))
    this.socket?.off('message', onPong)

    const chosen = takers
      .filter(id => this.fallbacks.has(id) && !blacklisted.has(id))
      .sort((a, b) => (this.fallbacks.get(a) ?? 101) - (this.fallbacks.get(b) ?? 101))[0]
    if (chosen === undefined) {
      this.send({ type: 'complete_intent_failure', data: message.data, context })
      this.send({ type: 'ovos.utterance.handled', data: {}, context })
      return
    }
    const utterances = message.data.utterances as string[]
    this.send({ type: `ovos.skills.fallback.${chosen}.request`, data: { ...message.data, range: [90, 101], skill_id: chosen, utterance: utterances[0] }, context })
  }

  private sayDontKnow (request: Message): void {
    const context = { ...request.context, skill_id: STAND_IN_UNKNOWN_ID }
    this.send({ type: `ovos.skills.fallback.${STAND_IN_UNKNOWN_ID}.start`, data: {}, context })
    this.send({ type: 'speak', data: { utterance: STAND_IN_DONT_KNOW, expect_response: false, lang: request.data.lang ?? 'en-US', meta: { skill: STAND_IN_UNKNOWN_ID } }, context })
    this.send({ type: `ovos.skills.fallback.${STAND_IN_UNKNOWN_ID}.response`, data: { result: false, fallback_handler: 'UnknownSkill.handle_fallback' }, context })
    this.send({ type: 'ovos.utterance.handled', data: {}, context })
  }
}
