export { FigureRegistry, type CounterHelp, type FigureDescription, type Figures } from './registry.ts'
export { startMetricsServer, metricName, type MetricsServer } from './metrics.ts'
export { startDashboard, type Dashboard, type DashboardState } from './dashboard.ts'
