// Command report prints the tables of a bench/run.sh run from the TSV files
// it wrote: throughput.tsv (wrk, closed loop) and latency.tsv (loadgen, open
// loop at a fixed rate).
//
// Every figure is a median over rounds. Ratios are paired: they are computed
// within one round (the two measurements were taken next to each other) and
// only then reduced to a median, with the min-max over rounds in brackets.
//
//	go run ./bench/report -dir <results dir> [-foreign-max 10]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// table is a TSV file with a header line.
type table struct {
	cols []string
	rows []map[string]string
}

func load(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &table{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rec := strings.Split(sc.Text(), "\t")
		if t.cols == nil {
			t.cols = rec
			continue
		}
		if len(rec) != len(t.cols) {
			continue
		}
		row := make(map[string]string, len(rec))
		for i, c := range t.cols {
			row[c] = rec[i]
		}
		t.rows = append(t.rows, row)
	}
	return t, sc.Err()
}

// num parses a field; missing or non-numeric fields ("NA") are NaN.
func num(row map[string]string, col string) float64 {
	v, err := strconv.ParseFloat(row[col], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// uniq returns the values of col in order of first appearance.
func (t *table) uniq(col string) []string {
	var out []string
	for _, r := range t.rows {
		if !slices.Contains(out, r[col]) {
			out = append(out, r[col])
		}
	}
	return out
}

// byRound maps round -> value of col for the rows matching every key=value
// in match. NaN values are left out.
func (t *table) byRound(col string, match ...string) map[string]float64 {
	out := map[string]float64{}
next:
	for _, r := range t.rows {
		for i := 0; i+1 < len(match); i += 2 {
			if r[match[i]] != match[i+1] {
				continue next
			}
		}
		if v := num(r, col); !math.IsNaN(v) {
			out[r["round"]] = v
		}
	}
	return out
}

func values(m map[string]float64) []float64 {
	out := make([]float64, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// paired returns f(a[r], b[r]) for every round r present in both.
func paired(a, b map[string]float64, f func(x, y float64) float64) []float64 {
	var out []float64
	for r, x := range a {
		if y, ok := b[r]; ok {
			if v := f(x, y); !math.IsNaN(v) && !math.IsInf(v, 0) {
				out = append(out, v)
			}
		}
	}
	return out
}

func ratio(x, y float64) float64 { return x / y }
func diff(x, y float64) float64  { return x - y }

// spread is (max-min)/median in percent.
func spread(x []float64) string {
	if len(x) < 2 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", (slices.Max(x)-slices.Min(x))/median(x)*100)
}

// fmtRange formats a median with its [min-max] over rounds.
func fmtRange(x []float64, prec int) string {
	if len(x) == 0 {
		return "-"
	}
	m := fmt.Sprintf("%.*f", prec, median(x))
	if len(x) == 1 {
		return m
	}
	return fmt.Sprintf("%s [%.*f-%.*f]", m, prec, slices.Min(x), prec, slices.Max(x))
}

func fmtNum(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// printTable aligns columns: the first left columns to the left, the others
// (numbers) to the right.
func printTable(w io.Writer, left int, head []string, rows [][]string) {
	width := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i > 0 {
				fmt.Fprint(w, "  ")
			}
			if i < left {
				fmt.Fprint(w, c, pad)
			} else {
				fmt.Fprint(w, pad, c)
			}
		}
		fmt.Fprintln(w)
	}
	line(head)
	for _, r := range rows {
		line(r)
	}
}

func sum(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
}

// noisy counts the rows matching match whose foreign CPU was above the limit
// (the measurement was kept after the last retry).
func (t *table) noisy(limit float64, match ...string) string {
	n := 0
	for _, v := range t.byRound("foreign_pct", match...) {
		if v > limit {
			n++
		}
	}
	return strconv.Itoa(n)
}

func throughput(w io.Writer, t *table, foreignMax float64) {
	rounds := len(t.uniq("round"))
	fmt.Fprintf(w, "Throughput: wrk closed loop; medians over %d round(s), paired ratios median [min-max]\n", rounds)
	targets := t.uniq("target")
	var rows [][]string
	for _, ep := range t.uniq("endpoint") {
		direct := t.byRound("rps", "endpoint", ep, "target", "direct")
		for _, tg := range targets {
			m := []string{"endpoint", ep, "target", tg}
			rps := t.byRound("rps", m...)
			if len(rps) == 0 {
				continue
			}
			vsDirect := "-"
			if tg != "direct" && len(direct) > 0 {
				vsDirect = fmtRange(paired(rps, direct, ratio), 2)
			}
			rows = append(rows, []string{
				ep, tg,
				fmtNum(median(values(rps)), 0),
				spread(values(rps)),
				fmtNum(median(values(t.byRound("p50_us", m...)))/1000, 2),
				fmtNum(median(values(t.byRound("p99_us", m...)))/1000, 2),
				vsDirect,
				fmtNum(median(values(t.byRound("proxy_cpu_pct", m...))), 0),
				fmtNum(median(values(t.byRound("cpu_us_per_req", m...))), 1),
				fmtNum(median(values(t.byRound("user_us_per_req", m...))), 1),
				fmtNum(sum(t.byRound("errors", m...))+sum(t.byRound("non2xx", m...)), 0),
				t.noisy(foreignMax, m...),
			})
		}
	}
	printTable(w, 2, []string{"endpoint", "target", "req/s", "spread", "p50 ms", "p99 ms", "vs direct", "proxy CPU%", "CPU us/req", "user us/req", "err+non2xx", "noisy"}, rows)
	fmt.Fprintf(w, "noisy = rounds kept although other processes used more than %.0f%% of a core during them\n", foreignMax)
	fmt.Fprintln(w)

	for _, p := range pairs {
		if !slices.Contains(targets, p.a) || !slices.Contains(targets, p.b) {
			continue
		}
		fmt.Fprintf(w, "%s / %s, paired per round (req/s: higher is better; CPU/req: lower is better)\n", p.a, p.b)
		if p.goal != "" {
			fmt.Fprintf(w, "target: %s\n", p.goal)
		}
		rows = nil
		for _, ep := range t.uniq("endpoint") {
			ma := []string{"endpoint", ep, "target", p.a}
			mb := []string{"endpoint", ep, "target", p.b}
			rr := paired(t.byRound("rps", ma...), t.byRound("rps", mb...), ratio)
			cr := paired(t.byRound("cpu_us_per_req", ma...), t.byRound("cpu_us_per_req", mb...), ratio)
			rows = append(rows, []string{ep, fmtRange(rr, 2), fmtRange(cr, 2), strconv.Itoa(len(rr))})
		}
		printTable(w, 1, []string{"endpoint", "req/s ratio", "CPU/req ratio", "rounds"}, rows)
		fmt.Fprintln(w)
	}
}

// pairs are the targets compared with each other, each ratio a/b, with the
// goals issues 14 (the cache) and 21 (the proxy's CPU) set; none for the
// compressing ones nor for bench/floor's calibration proxies.
var pairs = []struct{ a, b, goal string }{
	{"turnpike", "nginx", "CPU/req ratio at most 1.00 (issue 21)"},
	{"turnpike-net", "nginx", ""},
	{"turnpike", "turnpike-net", ""},
	{"floor-go", "nginx", ""},
	{"floor-loop", "nginx", ""},
	{"turnpike", "floor-go", ""},
	{"turnpike-cache", "nginx-cache", "CPU/req ratio at most 1.5"},
	{"turnpike-cache", "turnpike", "req/s ratio at least 1.8 (a hit vs a proxied request)"},
	{"turnpike-gzip", "nginx-gzip", ""},
	{"turnpike-br", "nginx-gzip", ""},
	{"turnpike-zstd", "nginx-gzip", ""},
}

func latency(w io.Writer, t *table, foreignMax float64) {
	if len(t.rows) == 0 {
		return
	}
	r0 := t.rows[0]
	fmt.Fprintf(w, "Fixed-rate latency: open loop %s req/s on %s, %s requests per run, medians over %d round(s), microseconds\n",
		r0["target_rps"], r0["path"], r0["n"], len(t.uniq("round")))
	fmt.Fprintln(w, "(svc = request sent to last byte; added = target minus direct in the same round; lat = from the due time)")
	direct50 := t.byRound("svc_p50_us", "target", "direct")
	direct99 := t.byRound("svc_p99_us", "target", "direct")
	var rows [][]string
	for _, tg := range t.uniq("target") {
		m := []string{"target", tg}
		p50, p99 := t.byRound("svc_p50_us", m...), t.byRound("svc_p99_us", m...)
		add50, add99 := "-", "-"
		if tg != "direct" && len(direct50) > 0 {
			add50 = fmtRange(paired(p50, direct50, diff), 0)
			add99 = fmtRange(paired(p99, direct99, diff), 0)
		}
		rows = append(rows, []string{
			tg,
			fmtNum(median(values(p50)), 0),
			fmtNum(median(values(p99)), 0),
			add50, add99,
			fmtNum(median(values(t.byRound("lat_p99_us", m...))), 0),
			fmtNum(median(values(t.byRound("achieved_rps", m...))), 0),
			fmtNum(sum(t.byRound("errors", m...))+sum(t.byRound("non2xx", m...)), 0),
			t.noisy(foreignMax, m...),
		})
	}
	printTable(w, 1, []string{"target", "svc p50", "svc p99", "added p50", "added p99", "lat p99", "achieved req/s", "err+non2xx", "noisy"}, rows)
	fmt.Fprintln(w)
}

func main() {
	dir := flag.String("dir", ".", "results directory written by bench/run.sh")
	foreignMax := flag.Float64("foreign-max", 10, "foreign CPU (% of a core) above which a round counts as noisy")
	flag.Parse()
	tp, err := load(filepath.Join(*dir, "throughput.tsv"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	throughput(os.Stdout, tp, *foreignMax)
	if lt, err := load(filepath.Join(*dir, "latency.tsv")); err == nil {
		latency(os.Stdout, lt, *foreignMax)
	}
}
