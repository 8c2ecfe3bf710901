// Package report renders a finished job's output directory as one
// self-contained HTML page, report.html: the summary from the manifest, the
// Gantt chart of the calls per slot over time from the timeline (retries,
// isolations, splits, backups and failed calls marked, and the balanced
// finish, where the job would have ended had every slot stayed busy: bars
// that run past it are the stragglers), the histograms of per-element and
// per-call durations, the batch sizes over time, and the dead letters
// grouped by kind with a few examples each.
//
// A job killed and resumed is reported over all its runs, which the
// timeline records (outdir.TimelineRecord): the runs are drawn one after
// the other without the time between them, the calls in flight at a kill
// (a start record without an end) are drawn as lost, and the figures,
// histograms and charts cover the same runs. Gantt draws the chart alone,
// for a live page of a running job.
//
// The page fetches nothing when opened: its CSS is inline, its charts are
// inline SVG, it runs no script and names no font that is not installed.
//
// The report reads bounded amounts of the output whatever the job's size:
// the timeline is streamed twice and at most Options.MaxCalls calls are
// drawn (the ones with the most to say: retried, isolated, split, failed
// or longest), the batch sizes are drawn per time bucket, and the
// dead-letter files are read only until every kind has its examples.
package report
