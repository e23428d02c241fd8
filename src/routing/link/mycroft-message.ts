import * as z from 'zod'

/** A Mycroft message, as link kinds carry it (bus delivery, relay, broadcast). */
export const MycroftMessageSchema = z.object({
  type: z.string().min(1).max(256),
  data: z.record(z.string(), z.unknown()),
  context: z.record(z.string(), z.unknown())
})
export type MycroftMessage = z.infer<typeof MycroftMessageSchema>

/** Who sent a message: the name it goes by, and the peer id the link or its signature proved. */
export interface Sender {
  name: string
  peerId: string
}

/** This node's bus, where what other nodes send it is spoken. */
export interface LocalBus {
  /** Puts a message another node sent on the local bus, for the local audio; `from` is the node that sent it. */
  emitFromMesh: (message: MycroftMessage, from: Sender) => void
  /**
   * Puts a child's request on the local bus for the local skills to answer, addressed so that whatever they
   * answer to it (`reply` or `forward`) names the child in `context.destination` and goes back to it.
   */
  emitRequest: (message: MycroftMessage, from: Sender) => void
  /** Tells the local skills something the mesh itself has to say (a refused message, a friend request). */
  notify: (type: string, data: Record<string, unknown>) => void
}
