// Which sources a build of dist/ was made from: plain JavaScript, so that checking it loads no TypeScript.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const DIST = `${ROOT}dist`
export const DIGEST_FILE = `${DIST}/sources.sha256`

// Paths are joined by hand: node:path's functions, called a few hundred times here at every start, would be
// hot enough for V8 to optimize them, and loading its optimizing compiler costs a node ~5 MB of RSS.
function filesUnder (folder) {
  return readdirSync(`${ROOT}${folder}`, { withFileTypes: true }).flatMap(entry => {
    const path = `${folder}/${entry.name}`
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : []
  })
}

/** The build script and the edits it makes to dependencies, which change the bundle as much as the sources do. */
const BUILD_FILES = ['scripts/build.ts', 'scripts/leaner-listeners.ts']

/** A hash of every file the bundle is built from (the sources, the build, package.json for the version and dependencies). */
export function sourcesDigest () {
  const hash = createHash('sha256')
  for (const file of [...filesUnder('src'), ...BUILD_FILES, 'package.json'].sort()) hash.update(file).update('\0').update(readFileSync(`${ROOT}${file}`)).update('\0')
  return hash.digest('hex')
}

/** Is dist/ built from the sources as they are now? */
export function distIsCurrent () {
  try {
    return readFileSync(DIGEST_FILE, 'utf8').trim() === sourcesDigest()
  } catch {
    return false
  }
}
