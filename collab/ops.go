package collab

import (
	"encoding/json"
	"net/http"
	"strconv"

	"tandem/auth"
	"tandem/ot"
	"tandem/store"
	"tandem/store/httpapi"
)

// SubmitRequest is the body of POST /api/docs/{id}/ops: an edit made against
// version, with a client-made id that makes re-sending it safe.
type SubmitRequest struct {
	Version *int64 `json:"version"`
	ID      string `json:"id"`
	Op      *ot.Op `json:"op"`
}

func (api *DocsAPI) handleSubmit(w http.ResponseWriter, r *http.Request) {
	var req SubmitRequest
	if _, err := api.authorizeBody(w, r, auth.NeedEdit, api.maxTextBody(), &req); err != nil {
		api.fail(w, r, opError(err)) // a role error is not in the op: it stays as it is
		return
	}
	switch {
	case req.Version == nil || *req.Version < 0:
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "version must be a non-negative integer"))
		return
	case store.CheckOpID(req.ID) != nil:
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "id must be 1 to %d bytes of UTF-8 without control characters", store.MaxOpIDLen))
		return
	case req.Op == nil:
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "op is required"))
		return
	}
	if ok, retry := api.hub.allowWrite(caller(r).ID, *req.Op); !ok {
		httpapi.WriteRateLimited(w, r, api.log, retry, writingTooFast)
		return
	}
	c, _ := auth.CallerFrom(r.Context())
	v, err := api.hub.SubmitGranted(r.Context(), r.PathValue("id"), c.User.ID, c.Grants, *req.Version, req.ID, *req.Op)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Version int64 `json:"version"`
	}{v})
}

// handleOps answers GET /api/docs/{id}/ops?from=A&to=B&limit=N with a page
// of a document's history (see writeOpsPage). Edits made without a socket
// arrive at handleSubmit.
func (api *DocsAPI) handleOps(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
		api.fail(w, r, err)
		return
	}
	from, err := queryInt(r, "from", 1)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	to, err := queryInt(r, "to", 1<<62)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", int64(api.cfg.MaxPageOps))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	limit = min(max(limit, 1), int64(api.cfg.MaxPageOps))
	// One more than asked, to know whether there is a next page; the store
	// stops after the op that reaches the byte bound.
	recs, err := api.store.Ops(r.Context(), r.PathValue("id"), max(from, 1), to,
		store.Page{Limit: int(limit) + 1, MaxBytes: api.cfg.MaxPageBytes})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeOpsPage(w, recs, int(limit), api.cfg.MaxPageBytes)
}

// writeOpsPage streams {"ops": [...], "next": N} with at most limit of recs
// and at most maxBytes of encoded ops (but always the first); next is the
// version of the first op left out, if any. The page is encoded op by op
// into the response, never held whole.
func writeOpsPage(w http.ResponseWriter, recs []store.OpRecord, limit, maxBytes int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	buf := append(make([]byte, 0, 1024), `{"ops":[`...)
	size := 0
	var next *int64
	for i, rec := range recs {
		enc, err := json.Marshal(rec)
		if err != nil {
			panic(http.ErrAbortHandler) // cannot happen for a stored op; never send half a page as whole
		}
		if i == limit || (i > 0 && size+len(enc) > maxBytes) {
			next = &rec.Version
			break
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		size += len(enc)
		buf = append(buf, enc...)
		if _, err := w.Write(buf); err != nil {
			return // the client is gone
		}
		buf = buf[:0]
	}
	buf = append(buf, ']')
	if next != nil {
		buf = strconv.AppendInt(append(buf, `,"next":`...), *next, 10)
	}
	_, _ = w.Write(append(buf, "}\n"...))
}
