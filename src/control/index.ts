export { defaultHomeDir, homePaths, ensureHome, type HomePaths } from './home.ts'
export { startControlServer, queryControl, ControlRefusal, parseRequest, type ControlRoutes } from './control.ts'
