package collab

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"tandem/store"
	"tandem/store/httpapi"
)

// The admins' webhook routes (docs/openapi.json). Setting a webhook is
// POST, not PUT: every call makes a fresh signing secret, and
// PUT /api/apps/{id}/webhook would overlap PUT /api/apps/docs/{id} (the
// app's document "webhook") in the router.

// webhookSecretPrefix starts every webhook signing secret, so that leaked
// ones are easy to recognise (and told from an app's tdms_ secret).
const webhookSecretPrefix = "whsec_"

// WebhookRequest is the body of POST /api/apps/{id}/webhook.
type WebhookRequest struct {
	URL string `json:"url"`
}

// WebhookCreated is a webhook as set: its signing secret is shown this
// once.
type WebhookCreated struct {
	Webhook store.Webhook `json:"webhook"`
	Secret  string        `json:"secret"`
}

// SetWebhook checks the URL (CheckWebhookURL) and sets the app's webhook
// with a fresh signing secret. The operator's `tandem app webhook` uses it
// too.
func SetWebhook(ctx context.Context, st store.Webhooks, appID, rawURL string, allowPrivate bool) (WebhookCreated, error) {
	if err := CheckWebhookURL(rawURL, allowPrivate); err != nil {
		return WebhookCreated{}, err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := webhookSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	w, err := st.SetWebhook(ctx, appID, rawURL, secret)
	if err != nil {
		return WebhookCreated{}, fmt.Errorf("set webhook: %w", err)
	}
	return WebhookCreated{Webhook: w, Secret: secret}, nil
}

// RegisterWebhooks adds the admins' webhook routes to mux.
func (api *DocsAPI) RegisterWebhooks(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/apps/{id}/webhook", api.auth.RequireAdmin(api.handleSetWebhook))
	mux.HandleFunc("GET /api/apps/{id}/webhook", api.auth.RequireAdmin(api.handleGetWebhook))
	mux.HandleFunc("DELETE /api/apps/{id}/webhook", api.auth.RequireAdmin(api.handleDeleteWebhook))
	mux.HandleFunc("GET /api/apps/{id}/deliveries", api.auth.RequireAdmin(api.handleDeliveries))
}

func (api *DocsAPI) handleSetWebhook(w http.ResponseWriter, r *http.Request) {
	var req WebhookRequest
	if err := httpapi.DecodeJSON(w, r, api.cfg.Auth.MaxBodyBytes, &req); err != nil {
		api.fail(w, r, err)
		return
	}
	created, err := SetWebhook(r.Context(), api.store, r.PathValue("id"), req.URL, api.cfg.WebhookAllowPrivate)
	if err == nil {
		api.hub.hooks.activate()
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, created)
}

func (api *DocsAPI) handleGetWebhook(w http.ResponseWriter, r *http.Request) {
	hook, err := api.store.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Webhook store.Webhook `json:"webhook"`
	}{hook})
}

func (api *DocsAPI) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := api.store.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		api.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleDeliveries lists an app's latest delivery attempts, newest first:
// ?limit=1..store.MaxDeliveries, 50 by default.
func (api *DocsAPI) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxDeliveries {
			api.fail(w, r, store.Errorf(store.CodeBadRequest, "limit must be 1 to %d", store.MaxDeliveries))
			return
		}
		limit = n
	}
	appID := r.PathValue("id")
	if _, err := api.store.App(r.Context(), appID); err != nil {
		api.fail(w, r, err)
		return
	}
	log, err := api.store.Deliveries(r.Context(), appID, limit)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if log == nil {
		log = []store.Delivery{}
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Deliveries []store.Delivery `json:"deliveries"`
	}{log})
}
