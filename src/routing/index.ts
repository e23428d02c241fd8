export * from './link/index.ts'
export * from './ask/index.ts'
export * from './bus-delivery/index.ts'
