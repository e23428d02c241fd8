declare module 'parse-prometheus-text-format' {
  /** One metric family of the Prometheus text format, as prom2json gives it. */
  export interface MetricFamily {
    name: string
    help: string
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
    metrics: Array<{ value?: string, labels?: Record<string, string>, buckets?: Record<string, string> }>
  }
  export default function parsePrometheusTextFormat (text: string): MetricFamily[]
}
