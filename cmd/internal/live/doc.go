// Package live serves a running job to the people and programs watching it
// (gridrun run --listen): Prometheus metrics at /metrics and, at /, a page
// with the job's counts and the report's Gantt chart, refreshed every
// second.
//
// It learns of the job through grid.Hooks.Observer, so that the engine
// knows nothing of HTTP or Prometheus; the chart is drawn by package
// report from the timeline the engine writes as calls end.
//
// The metrics have their own registry, not the Prometheus client's global
// one, so that nothing else a dependency registers is exported:
//
//	gridrun_elements_settled_total      counter: elements with an outcome (resumed ones included)
//	gridrun_dead_letters_total{kind}    counter: of which dead letters, by kind
//	gridrun_elements_total              gauge: the job's elements, once known
//	gridrun_calls_running               gauge: calls in flight
//	gridrun_slots                       gauge: calls that may run at once
//	gridrun_call_duration_seconds       histogram: wall time of each call
//	gridrun_batch_size                  histogram: elements per call
//	gridrun_job_info{job_id,run}        gauge: 1, naming the job
//
// and the Go runtime's and the process's own (go_*, process_*).
//
// An address without a host listens on the loopback interface only: the
// page and the metrics have no authentication, and a job's counts and
// timings are no business of the network unless the user says so by
// naming a host.
package live
