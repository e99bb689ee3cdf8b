package main

import (
	"context"
	"fmt"
	"sort"
	"unicode/utf8"
)

// nodesAgree reads doc's content from every node but the first and reports
// each node that cannot serve it or serves other than text at version,
// which the first node served.
func nodesAgree(ctx context.Context, a *api, nodes []string, doc, text string, version int64) []string {
	var problems []string
	for _, n := range nodes[1:] {
		t, v, err := a.at(n).content(ctx, doc)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("node %s: document %s: %v", n, doc, err))
		case t != text || v != version:
			problems = append(problems, fmt.Sprintf("node %s serves document %s at version %d, %d bytes; node %s at version %d, %d bytes",
				n, doc, v, len(t), nodes[0], version, len(text)))
		}
	}
	return problems
}

// final is an editor as it ends a run, for checkConvergence.
type final struct {
	name, doc string
	full      bool   // text is kept; else only length
	text      string // a full editor's
	length    int    // in code points
	version   int64
}

// docState is a document as the server has it at the end.
type docState struct {
	text    string
	version int64
	stored  []storedOp
}

// checkConvergence reports every way the run went wrong: an editor not at
// the server's version, a full editor whose text is not the server's, a
// light one whose length is not, an acknowledged op missing, stored twice
// or at another version, and a stored op nobody had acknowledged.
func checkConvergence(docs map[string]docState, eds []final, acked map[string]int64) []string {
	var problems []string
	for _, e := range eds {
		d := docs[e.doc]
		switch n := utf8.RuneCountInString(d.text); {
		case e.full && (e.text != d.text || e.version != d.version):
			problems = append(problems, fmt.Sprintf("%s diverged: version %d, %d bytes; server version %d, %d bytes",
				e.name, e.version, len(e.text), d.version, len(d.text)))
		case !e.full && (e.length != n || e.version != d.version):
			problems = append(problems, fmt.Sprintf("%s (light) diverged: version %d, %d code points; server version %d, %d code points",
				e.name, e.version, e.length, d.version, n))
		}
	}
	storedAt := map[string]int64{}
	for doc, d := range docs {
		if int64(len(d.stored)) != d.version {
			problems = append(problems, fmt.Sprintf("document %s: %d ops stored for version %d", doc, len(d.stored), d.version))
		}
		for _, op := range d.stored {
			if _, dup := storedAt[op.ID]; dup {
				problems = append(problems, fmt.Sprintf("op %s stored twice", op.ID))
			}
			storedAt[op.ID] = op.Version
		}
	}
	for id, v := range acked {
		switch sv, ok := storedAt[id]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("op %s acked as version %d but not stored", id, v))
		case sv != v:
			problems = append(problems, fmt.Sprintf("op %s acked as version %d, stored as %d", id, v, sv))
		}
	}
	if len(storedAt) != len(acked) {
		problems = append(problems, fmt.Sprintf("%d ops stored, %d acknowledged", len(storedAt), len(acked)))
	}
	sort.Strings(problems)
	return problems
}
