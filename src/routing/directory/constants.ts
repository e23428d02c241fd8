/** The word in `hello`/`welcome` of a node that reports its subtree and answers for the house's rooms. */
export const DIRECTORY_CAPABILITY = 'directory'
export const DirectoryKind = { subtree: 'subtree', rooms: 'rooms', roomList: 'room-list' } as const
/** Changes below a node within this long go up in one report. */
export const REPORT_DELAY_MS = 100
/** Rooms one report may carry: a house, or a brain's many houses, not a flood. */
export const MAX_ROOMS = 4_096
export const LIST_TIMEOUT_MS = 3_000

export const DIRECTORY_COUNTERS = {
  reportsSent: 'subtree reports sent to the parent (the whole subtree once a link is up, then what changed)',
  roomsSent: 'room entries in those reports',
  reportsReceived: 'subtree reports from children'
}
