export const SKILLS_PROTOCOL = '/mycroft-mesh/skills/1.0.0'
/** The word in `hello`/`welcome` of a node that takes skill updates, and the link kinds that carry them. */
export const SKILLS_CAPABILITY = 'skills'
export const SkillsKind = { update: 'skills-update', report: 'skills-report' } as const

export const SPEC_VERSION = '1.0.31'
const DAY_MS = 24 * 3600_000
/** How long each role's metadata stays valid: the online roles briefly (a frozen mirror is found out within a day). */
export const EXPIRY_MS = { root: 365 * DAY_MS, targets: 90 * DAY_MS, snapshot: 7 * DAY_MS, timestamp: DAY_MS }
/** A running master signs a new timestamp once the current one has lived this much of its life. */
export const TIMESTAMP_REFRESH_SHARE = 0.5

/** What one request on the skills protocol may ask for: a metadata file or a target, by the names TUF gives them. */
export const SERVED_PATH = /^(metadata\/(root|timestamp|\d+\.(root|snapshot|targets))\.json|targets\/[0-9a-f]{64}\.[\w.+-]{1,200})$/
export const MAX_REQUEST_BYTES = 1024
/** A parent that sends nothing for this long mid-file is given up on. */
export const FETCH_IDLE_TIMEOUT_MS = 20_000
export const MAX_INBOUND_FETCHES_PER_CONNECTION = 4
/** An ovos.pip.install that hears nothing back within this is reported failed (pip's own failures send no reply). */
export const PIP_INSTALL_TIMEOUT_MS = 180_000
/** ovos-core loads new skills at its skill manager's scan, every 30 s */
export const SKILL_LOAD_TIMEOUT_MS = 75_000

export const SKILLS_COUNTERS = {
  updates: 'updates checked against the parent',
  installed: 'skill versions verified and installed',
  failed: 'skill installs that failed',
  refused: 'updates refused: not verified by the pinned root',
  served: 'metadata and target files served to children'
}
