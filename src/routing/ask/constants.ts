/** The word in `hello`/`welcome`, and the permission a peer needs to ask this node. */
export const ASK_CAPABILITY = 'ask'
export const AskKind = { ask: 'ask', answer: 'answer' } as const

/** How long a node waits for the mesh to answer one of its own questions. */
export const ASK_DEADLINE_MS = 15_000
/** Each hop gives the next one this much less time, so that its own answer still arrives in time. */
export const HOP_MARGIN_MS = 250
/** Share of a hop's time its own assistant may take when an ancestor could still be asked. */
export const LOCAL_ANSWER_SHARE = 0.7
export const MAX_ASKS_IN_FLIGHT_PER_CHILD = 8
/** When a busy parent said no more: ask again this much later. */
export const BUSY_RETRY_MS = 250

/** What the asks figures in status count. */
export const ASK_COUNTERS = {
  asksSent: 'questions this node sent to its parent',
  answered: 'of those, answered',
  unanswered: 'of those, nobody up the tree knew',
  timedOut: 'of those, no answer in time',
  failed: 'of those, lost on the way (busy, loop, link lost)',
  retriedBusy: 'times a question was asked again after the parent said it was busy',
  givenBack: 'questions given back to the local assistant: the parent stayed busy until their deadline',
  asksFromChildren: 'questions from children',
  answeredForChildren: 'of those, answered by this node\'s own assistant',
  forwardedUp: 'of those, passed on to this node\'s parent',
  refusedBusy: 'of those, refused because the child had too many in flight'
}
