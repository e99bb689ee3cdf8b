package collab

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestWebhookURL: what a webhook URL may be, with and without
// --webhook-allow-private.
func TestWebhookURL(t *testing.T) {
	for _, tc := range []struct {
		url           string
		ok, okPrivate bool
	}{
		{"https://hooks.example.com/tandem", true, true},
		{"http://203.0.113.7:8080/h?x=1", true, true},
		{"http://[2001:db8::1]/h", true, true},
		{"ftp://example.com/", false, false},
		{"/relative", false, false},
		{"https://", false, false},
		{"https://user:pw@example.com/", false, false},
		{"https://example.com/#frag", false, false},
		{"https://example.com/" + strings.Repeat("a", MaxWebhookURL), false, false},
		{"http://localhost:8080/", false, true},
		{"http://api.localhost/", false, true},
		{"http://127.0.0.1/", false, true},
		{"http://10.1.2.3/", false, true},
		{"http://192.168.1.1/", false, true},
		{"http://169.254.169.254/latest/meta-data", false, true},
		{"http://100.64.0.1/", false, true},
		{"http://[::1]/", false, true},
		{"http://[fd00::1]/", false, true},
		{"http://[::ffff:127.0.0.1]/", false, true},
		{"http://0.0.0.0/", false, true},
	} {
		if err := CheckWebhookURL(tc.url, false); (err == nil) != tc.ok {
			t.Errorf("CheckWebhookURL(%.60q) = %v, want ok %t", tc.url, err, tc.ok)
		}
		if err := CheckWebhookURL(tc.url, true); (err == nil) != tc.okPrivate {
			t.Errorf("CheckWebhookURL(%.60q, allow private) = %v, want ok %t", tc.url, err, tc.okPrivate)
		}
	}
	if publicAddr(netip.MustParseAddr("224.0.0.1")) || !publicAddr(netip.MustParseAddr("8.8.8.8")) {
		t.Error("publicAddr: multicast allowed or a public address refused")
	}
}

// TestWebhookSignature: a signature verifies with the secret, and not with
// another secret, another body, or once it is too old (a replay).
func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"doc":"a","version":3,"title":"A"}`)
	now := time.Unix(1_800_000_000, 0)
	sig := SignWebhook("whsec_x", now, body)
	if !strings.HasPrefix(sig, "t=1800000000,v1=") {
		t.Fatalf("signature %q", sig)
	}
	if err := VerifyWebhook("whsec_x", sig, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for what, err := range map[string]error{
		"another secret": VerifyWebhook("whsec_y", sig, body, now, 5*time.Minute),
		"another body":   VerifyWebhook("whsec_x", sig, []byte(`{"doc":"a","version":4,"title":"A"}`), now, 5*time.Minute),
		"a replay":       VerifyWebhook("whsec_x", sig, body, now.Add(6*time.Minute), 5*time.Minute),
		"no timestamp":   VerifyWebhook("whsec_x", sig[strings.Index(sig, ",")+1:], body, now, 5*time.Minute),
		"a changed time": VerifyWebhook("whsec_x", strings.Replace(sig, "t=1800000000", "t=1800000001", 1), body, now, 5*time.Minute),
	} {
		if err == nil {
			t.Errorf("%s verifies", what)
		}
	}
}
