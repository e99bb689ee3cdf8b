package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tandem/store"
)

func testWebhooks(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)

	a, err := s.CreateApp(ctx, store.NewApp{Name: "Wiki", Secret: "secret-1"})
	must(t, err, "create app")
	b, err := s.CreateApp(ctx, store.NewApp{Name: "CRM", Secret: "secret-2"})
	must(t, err, "create second app")

	_, err = s.Webhook(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound, "webhook before one is set")
	_, err = s.SetWebhook(ctx, a.ID, "", "s")
	wantErr(t, err, store.ErrInvalid, "webhook without a URL")
	_, err = s.SetWebhook(ctx, "no-such-app", "https://x.example/hook", "s")
	wantErr(t, err, store.ErrNotFound, "webhook of a missing app")
	if any, err := s.AnyWebhooks(ctx); err != nil || any {
		t.Errorf("AnyWebhooks before any is set = %v, %v", any, err)
	}
	_, err = s.SetWebhook(ctx, a.ID, "https://wiki.example/hook", "whsec-1")
	must(t, err, "set webhook")
	w, err := s.SetWebhook(ctx, a.ID, "https://wiki.example/hook2", "whsec-2")
	must(t, err, "replace webhook")
	got, err := s.Webhook(ctx, a.ID)
	must(t, err, "webhook")
	if got.URL != "https://wiki.example/hook2" || got.Secret != "whsec-2" || got.AppID != a.ID || !sameTime(got.CreatedAt, w.CreatedAt) {
		t.Errorf("Webhook = %+v, want %+v", got, w)
	}

	// Which documents: those the app's account owns.
	d, err := s.CreateDocument(ctx, store.NewDocument{ID: "wiki/page-1", OwnerID: a.UserID, Title: "Page"})
	must(t, err, "app's document")
	h, err := s.DocWebhook(ctx, d.ID)
	must(t, err, "document webhook")
	if h.AppID != a.ID || h.URL != got.URL || h.Secret != "whsec-2" || h.Title != "Page" || h.Version != 0 {
		t.Errorf("DocWebhook = %+v", h)
	}
	other, err := s.CreateDocument(ctx, store.NewDocument{ID: "crm/1", OwnerID: b.UserID, Title: "CRM"})
	must(t, err, "other app's document")
	_, err = s.DocWebhook(ctx, other.ID)
	wantErr(t, err, store.ErrNotFound, "document of an app without a webhook")
	person := mustUser(t, s, "webhook-owner@example.com")
	plain := mustDoc(t, s, person, "x")
	_, err = s.DocWebhook(ctx, plain.ID)
	wantErr(t, err, store.ErrNotFound, "document owned by a person")
	_, err = s.DocWebhook(ctx, "no-such-doc")
	wantErr(t, err, store.ErrNotFound, "missing document")

	// The log: newest first, bounded.
	_, err = s.Deliveries(ctx, a.ID, 0)
	wantErr(t, err, store.ErrInvalid, "limit 0")
	at := time.Now().UTC().Truncate(time.Millisecond)
	for i := 1; i <= 3; i++ {
		must(t, s.RecordDelivery(ctx, store.Delivery{AppID: a.ID, DocID: d.ID, Version: int64(i), Attempt: i,
			Status: 500, Error: fmt.Sprintf("attempt %d", i), At: at, DurationMS: 12}), "record delivery")
	}
	must(t, s.RecordDelivery(ctx, store.Delivery{AppID: b.ID, DocID: other.ID, Version: 1, Attempt: 1, Status: 204, At: at}), "record other app's delivery")
	log, err := s.Deliveries(ctx, a.ID, 2)
	must(t, err, "deliveries")
	if len(log) != 2 || log[0].Version != 3 || log[1].Version != 2 || log[0].Status != 500 || log[0].Error != "attempt 3" ||
		log[0].DurationMS != 12 || !sameTime(log[0].At, at) || log[0].DocID != d.ID || log[0].ID <= log[1].ID {
		t.Errorf("Deliveries = %+v", log)
	}
	for i := 0; i < store.MaxDeliveries+5; i++ {
		must(t, s.RecordDelivery(ctx, store.Delivery{AppID: a.ID, DocID: d.ID, Version: 10, Attempt: 1, Status: 200, At: at}), "record")
	}
	log, err = s.Deliveries(ctx, a.ID, store.MaxDeliveries)
	must(t, err, "deliveries after many")
	if len(log) != store.MaxDeliveries {
		t.Errorf("log holds %d, want %d", len(log), store.MaxDeliveries)
	}
	if log, err := s.Deliveries(ctx, b.ID, 10); err != nil || len(log) != 1 || log[0].Status != 204 {
		t.Errorf("other app's log = %+v, %v", log, err)
	}

	if any, err := s.AnyWebhooks(ctx); err != nil || !any {
		t.Errorf("AnyWebhooks with one set = %v, %v", any, err)
	}
	// A revoked app's webhook is silent; a deleted one is gone.
	must(t, s.RevokeApp(ctx, a.ID), "revoke")
	if any, err := s.AnyWebhooks(ctx); err != nil || any {
		t.Errorf("AnyWebhooks with only a revoked app's = %v, %v", any, err)
	}
	_, err = s.DocWebhook(ctx, d.ID)
	wantErr(t, err, store.ErrNotFound, "document of a revoked app")
	_, err = s.SetWebhook(ctx, a.ID, "https://x.example/", "s")
	wantErr(t, err, store.ErrNotFound, "webhook of a revoked app")
	must(t, s.DeleteWebhook(ctx, a.ID), "delete webhook")
	wantErr(t, s.DeleteWebhook(ctx, a.ID), store.ErrNotFound, "delete twice")
}
