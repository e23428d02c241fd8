export { defaultHomeDir, homePaths, ensureHome, type HomePaths } from './home.ts'
export { startControlServer, queryControl, NodeNotRunningError, ControlRefusal, type ControlRoutes } from './control.ts'
