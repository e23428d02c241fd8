import { LinkService, type LinkComponents, type LinkInit } from './link.ts'

export { LinkService, LinkRefusedError } from './link.ts'
export type { Admission, ChildLink, EnvelopeHandler, LinkComponents, LinkInit, ParentLinkSession } from './link.ts'
export { LinkSession, LinkClosedError, RemoteError, RequestTimeoutError } from './link-session.ts'
export type { RequestOptions, SendOptions } from './link-session.ts'
export { decodeEnvelope, encodeFrame, FrameDecoder, FrameError, type Envelope } from './envelope.ts'
export { LinkKind, NodeNameSchema, type Hello, type Welcome, type LinkErrorCode, type Verdict } from './messages.ts'
export * from './constants.ts'

/** The link as a libp2p service: `createLibp2p({ services: { link: link(init) } })`. */
export function link (init: LinkInit): (components: LinkComponents) => LinkService {
  return (components) => new LinkService(components, init)
}
export { AskRouter, AskKind, AnswerSchema, QuestionSchema, SpeakSchema } from './ask.ts'
export type { Answer, AskCounters, AskRouterInit, LocalAnswerer, PeerRef, Question, Speak } from './ask.ts'
