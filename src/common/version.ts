import pkg from '../../package.json' with { type: 'json' }

/** This release, as `--version`, `status` and `hello` give it. */
export const VERSION: string = pkg.version
