export const ROOT: string
export const DIST: string
export const DIGEST_FILE: string
export function sourcesDigest (): string
export function distIsCurrent (): boolean
