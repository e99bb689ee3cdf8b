package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress draws a one-line progress bar on a terminal, redrawn at most
// every progressEvery; on anything else (a file, a pipe, a test's buffer)
// it writes nothing, so that logs get only the command's summary.
type progress struct {
	w     io.Writer // nil: quiet
	phase string
	what  string
	total int64
	n     int64 // steps done
	began time.Time
	drawn time.Time
}

const progressEvery = 100 * time.Millisecond

// newProgress returns a progress bar on w if w is a terminal, and a quiet
// one otherwise.
func newProgress(w io.Writer) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	return &progress{w: w}
}

// isTerminal reports whether w is a character device, as a terminal is.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// start begins a phase of total steps.
func (p *progress) start(phase string, total int64) {
	p.phase, p.what, p.total, p.n = phase, "", total, 0
	p.began = time.Now()
	p.draw(true)
}

// add records n more steps done, on what (a table's name).
func (p *progress) add(what string, n int) {
	p.what = what
	p.n += int64(n)
	p.draw(false)
}

// done clears the line.
func (p *progress) done() {
	if p.w != nil && !p.drawn.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = time.Time{}
	}
}

func (p *progress) draw(force bool) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.drawn) < progressEvery && p.n < p.total {
		return
	}
	p.drawn = now
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.n) / float64(p.total)
	}
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r\x1b[K%s [%s%s] %3.0f%% %d/%d %s %s",
		p.phase, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		100*frac, p.n, p.total, p.what, now.Sub(p.began).Round(time.Second))
}
