export { FigureRegistry, type CounterHelp, type Figures } from './registry.ts'
