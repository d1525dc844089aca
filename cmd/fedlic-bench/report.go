package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
)

// row is one figure: ours beside the baseline measured in the same run.
type row struct {
	Bench    string  `json:"bench"`
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Ours     float64 `json:"ours"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
	Target   string  `json:"target,omitempty"`
	Note     string  `json:"note,omitempty"`
}

type reporter struct {
	mu   sync.Mutex
	json bool
	rows []row
}

func (r *reporter) add(x row) {
	if x.Baseline != 0 {
		x.Ratio = x.Ours / x.Baseline
	}
	r.mu.Lock()
	r.rows = append(r.rows, x)
	r.mu.Unlock()
	if r.json {
		b, _ := json.Marshal(x)
		fmt.Println(string(b))
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fedlic-bench: "+format+"\n", args...)
}

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func (r *reporter) table() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "bench\tmetric\tunit\tours\tbaseline\tratio\ttarget\tnote")
	for _, x := range r.rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Bench, x.Metric, x.Unit, fmtNum(x.Ours), fmtNum(x.Baseline), fmtNum(x.Ratio), x.Target, x.Note)
	}
	w.Flush()
	return b.String()
}

func (r *reporter) markdown() string {
	var b strings.Builder
	b.WriteString("| bench | metric | unit | ours | baseline | ratio | target | note |\n|---|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Bench, x.Metric, x.Unit, fmtNum(x.Ours), fmtNum(x.Baseline), fmtNum(x.Ratio), x.Target, x.Note)
	}
	return b.String()
}
