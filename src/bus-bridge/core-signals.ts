import { isRecord, type BusMessage } from './message.ts'

/*
 * What a core's messages say about the utterance they follow, for OVOS 2.x and classic Mycroft 20.2–21.2 alike
 * (the traces in test/fixtures hold each sequence whole). The pitfalls, from mycroft-core's release tags:
 * - `mycroft.skill.handler.start {handler: "fallback"}` only says the fallback loop began; in 20.8.1+ it comes
 *   once per priority range, with `mycroft.skill.handler.complete {exception: "No fallback could handle intent."}`
 *   and `mycroft.skills.fallback.response {handled: false}` for each range that had no taker — none is final;
 * - `intent_failure` (20.2) only says Adapt had no match: Padatious and the fallbacks still run after it;
 * - on a miss the classic speech client speaks "Please wait a moment as I finish booting up." with a bare context
 *   (no destination, no session): not an answer;
 * - `complete_intent_failure` is the one final miss everywhere; in 21.x its data is empty.
 */

function isFallbackLoop (message: BusMessage): boolean {
  return message.data.handler === 'fallback'
}

/** The classic speech client's own line after a miss, not something a skill said. */
function isBareSpeak (message: BusMessage): boolean {
  return message.type === 'speak' && message.context.destination === undefined && !isRecord(message.context.session)
}

/** A skill took the utterance: an intent handler started, a fallback said it handled it, or something was said. */
export function saysHandled (message: BusMessage): boolean {
  switch (message.type) {
    case 'ovos.utterance.handled':
      return true
    case 'speak':
      return !isBareSpeak(message)
    case 'mycroft.skill.handler.start':
      return !isFallbackLoop(message)
    case 'mycroft.skill.handler.complete':
      return isFallbackLoop(message) && message.data.exception === undefined
    case 'mycroft.skills.fallback.response':
      return message.data.handled === true
    default:
      return false
  }
}

/** Nothing more will be said for the utterance: its handler finished, or nothing could handle it. */
export function saysFinished (message: BusMessage): boolean {
  switch (message.type) {
    case 'ovos.utterance.handled':
    case 'complete_intent_failure':
      return true
    case 'mycroft.skill.handler.complete':
      return !isFallbackLoop(message) || message.data.exception === undefined
    case 'mycroft.skills.fallback.response':
      return message.data.handled === true
    default:
      return false
  }
}
