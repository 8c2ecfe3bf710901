package live

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gridrun/gridrun/grid"
)

// Buckets of the histograms. Calls are sized to last about two seconds
// (--target-call-duration) and batches range from one element to the
// adaptive maximum (10,000 by default); the buckets span both with room on
// either side, at round values a reader can quote.
var (
	callSecondsBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500}
	batchSizeBuckets   = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}
)

// kinds are the dead-letter kinds the engine writes. Their series are made
// at zero from the start, so that a rate or an alert on one of them has a
// series to read before its first dead letter.
var kinds = []string{
	grid.KindBadInput, grid.KindElementError, grid.KindCrash, grid.KindBadOutput,
	grid.KindTimeout, grid.KindMissingJoin, grid.KindBadJoinRow, grid.KindJoinUnavailable,
}

// metrics is the job's Observer: it keeps the Prometheus metrics and the
// counts the live page shows.
type metrics struct {
	reg         *prometheus.Registry
	settled     prometheus.Counter
	dead        *prometheus.CounterVec
	running     prometheus.GaugeFunc
	slots       prometheus.Gauge
	callSeconds prometheus.Histogram
	batchSize   prometheus.Histogram
	info        *prometheus.GaugeVec

	// The page's counts, read without gathering the registry.
	nSettled, nDead, nCalls atomic.Int64
	runningFn               atomic.Pointer[func() int] // JobStart.Running
	total                   atomic.Int64               // -1 until known
	mu                      sync.Mutex
	start                   grid.JobStart
	deadByKind              map[string]int64
}

var _ grid.Observer = (*metrics)(nil)

func newMetrics() *metrics {
	m := &metrics{deadByKind: map[string]int64{}}
	*m = metrics{
		reg: prometheus.NewRegistry(),
		settled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridrun_elements_settled_total",
			Help: "Elements with an outcome, a result or a dead letter, written to the output (committed within --commit-interval); a resumed job's count starts at what its earlier runs committed.",
		}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridrun_dead_letters_total",
			Help: "Elements settled as dead letters, by kind (see docs/faults.md); a resumed job's count starts at what its earlier runs committed.",
		}, []string{"kind"}),
		running: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gridrun_calls_running",
			Help: "Subprocess calls in flight: holding one of the gridrun_slots.",
		}, func() float64 { return float64(m.callsRunning()) }),
		slots: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gridrun_slots",
			Help: "Subprocess calls that may run at once (--parallelism).",
		}),
		callSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridrun_call_duration_seconds",
			Help:    "Wall time of each subprocess call, from its start to its exit.",
			Buckets: callSecondsBuckets,
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridrun_batch_size",
			Help:    "Elements per subprocess call.",
			Buckets: batchSizeBuckets,
		}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gridrun_job_info",
			Help: "The job being run, by its id and run number (1, then 2 for its first resume, and so on); always 1.",
		}, []string{"job_id", "run"}),
		deadByKind: m.deadByKind,
	}
	m.total.Store(-1)
	for _, k := range kinds {
		m.dead.WithLabelValues(k)
	}
	m.reg.MustRegister(m.settled, m.dead, m.running, m.slots, m.callSeconds, m.batchSize, m.info,
		totalCollector{&m.total},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// totalCollector exports gridrun_elements_total once the total is known,
// and nothing before: a zero would read as a job of no elements.
type totalCollector struct{ n *atomic.Int64 }

var totalDesc = prometheus.NewDesc("gridrun_elements_total",
	"The job's elements (input rows, those earlier runs committed included), once the inputs have been read to their end; absent before.", nil, nil)

func (c totalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- totalDesc }

func (c totalCollector) Collect(ch chan<- prometheus.Metric) {
	if n := c.n.Load(); n >= 0 {
		ch <- prometheus.MustNewConstMetric(totalDesc, prometheus.GaugeValue, float64(n))
	}
}

func (m *metrics) JobStarted(s grid.JobStart) {
	if s.Running != nil {
		m.runningFn.Store(&s.Running)
	}
	m.slots.Set(float64(s.Slots))
	m.info.WithLabelValues(s.JobID, strconv.Itoa(s.Run)).Set(1)
	var dead int64
	for k, n := range s.DeadLetters {
		m.dead.WithLabelValues(k).Add(float64(n))
		dead += n
	}
	m.settled.Add(float64(s.Results + dead))
	m.nSettled.Add(s.Results + dead)
	m.nDead.Add(dead)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.start = s
	for k, n := range s.DeadLetters {
		m.deadByKind[k] += n
	}
}

func (m *metrics) CallStarted(_, elements int) {
	m.batchSize.Observe(float64(elements))
}

func (m *metrics) CallEnded(r grid.CallRecord) {
	m.nCalls.Add(1)
	m.callSeconds.Observe(r.End.Sub(r.Start).Seconds())
}

func (m *metrics) Settled(kind string) {
	m.settled.Inc()
	m.nSettled.Add(1)
	if kind == "" {
		return
	}
	m.dead.WithLabelValues(kind).Inc()
	m.nDead.Add(1)
	m.mu.Lock()
	m.deadByKind[kind]++
	m.mu.Unlock()
}

func (m *metrics) InputCounted(rows int64) { m.total.Store(rows) }

// callsRunning is the job's count of calls in flight, 0 before it starts.
func (m *metrics) callsRunning() int {
	if f := m.runningFn.Load(); f != nil {
		return (*f)()
	}
	return 0
}

// counts is a snapshot of the job for the page.
type counts struct {
	JobID                         string
	Run, Slots                    int
	Settled, Dead, Running, Calls int64
	Total                         int64 // -1 until known
	Kinds                         []kindCount
}

type kindCount struct {
	Kind  string
	Count int64
}

func (m *metrics) snapshot() counts {
	c := counts{
		Settled: m.nSettled.Load(), Dead: m.nDead.Load(), Running: int64(m.callsRunning()),
		Calls: m.nCalls.Load(), Total: m.total.Load(),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c.JobID, c.Run, c.Slots = m.start.JobID, m.start.Run, m.start.Slots
	for _, k := range slices.Sorted(maps.Keys(m.deadByKind)) {
		c.Kinds = append(c.Kinds, kindCount{k, m.deadByKind[k]})
	}
	return c
}
