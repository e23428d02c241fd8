import * as z from 'zod'
import { ControlRefusal, parseRequest, type ControlRoutes } from '../control/index.ts'
import { MAX_MAIL_TTL_MS, NodeNameSchema, type AskFlow, type Broadcast, type Directory, type MycroftMessage, type Outcome, type RoomRelay } from '../routing/index.ts'

/** What the house commands need of the running node. */
export interface HousePort {
  directory: Directory
  relay: RoomRelay
  broadcast: Broadcast
  ask: AskFlow
}

const SendRequest = z.object({
  to: NodeNameSchema,
  /** a Mycroft message type; text alone becomes a `speak` */
  type: z.string().min(1).max(256).default('speak'),
  text: z.string().max(8_000).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  /** how long it may wait for the room, should the room be away */
  ttlMs: z.number().int().min(1_000).max(MAX_MAIL_TTL_MS).optional()
}).refine(request => request.text !== undefined || request.data !== undefined, { message: 'give the text to speak, or the data of the message' })
const AnnounceRequest = z.object({ text: z.string().min(1).max(8_000) })
const AskRequest = z.object({ to: NodeNameSchema.optional(), text: z.string().min(1).max(2_000), lang: z.string().min(2).max(16).default('en-US') })

const speak = (text: string): MycroftMessage => ({ type: 'speak', data: { utterance: text, expect_response: false, lang: 'en-US' }, context: {} })

/** The control routes of the house: its rooms, a message to one room, an announcement to all. */
export function houseRoutes (house: HousePort): ControlRoutes {
  return {
    'GET /rooms': async () => house.directory.rooms(),
    'GET /mail': () => house.relay.mail(),
    'POST /send': async body => {
      const request = parseRequest(SendRequest, body)
      const message = request.type === 'speak' && request.data === undefined
        ? speak(request.text ?? '')
        : { type: request.type, data: request.data ?? { utterance: request.text }, context: {} }
      return house.relay.send(request.to, message, { ttlMs: request.ttlMs })
    },
    'POST /announce': async body => {
      const outcome = await house.broadcast.announce(speak(parseRequest(AnnounceRequest, body).text))
      if (outcome.status === 'rate-limited') throw new ControlRefusal(`not announced: ${outcome.reason}`)
      return outcome
    },
    /** One room's assistant by name, or (no `to`) up the tree as an unhandled utterance would go. */
    'POST /ask': async (body): Promise<Outcome> => {
      const { to, text, lang } = parseRequest(AskRequest, body)
      if (to !== undefined) return house.relay.ask(to, [text], lang)
      const answer = await house.ask.ask([text], lang)
      return answer.status === 'answered'
        ? { status: 'answered', speaks: answer.speaks, reason: `answered by ${answer.answeredBy?.name ?? 'the mesh'}` }
        : { status: answer.status === 'no-answer' ? 'no-answer' : 'error', reason: answer.reason }
    }
  }
}
