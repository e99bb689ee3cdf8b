package collab

import (
	"encoding/json"
	"strings"
	"testing"

	"tandem/auth"
	"tandem/store"
	"tandem/store/httpapi"
)

// FuzzDecodeMember feeds arbitrary bodies to PUT /api/docs/{id}/members'
// decoding and validation: no panics, only client errors, and what passes
// has a plain email and a real role.
func FuzzDecodeMember(f *testing.F) {
	for _, seed := range []string{
		`{"email":"bob@example.com","role":"editor"}`,
		`{"email":"bob@example.com","role":"admin"}`,
		`{"email":"bob@example.com","role":"owner","extra":1}`,
		`{"email":"","role":"viewer"}`, `{"role":["viewer"]}`, `null`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req MemberRequest
		err := httpapi.Decode(body, &req)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			if code, _ := store.ErrorCode(err); code != store.CodeBadRequest {
				t.Fatalf("body %q: error %v has code %s", body, err, code)
			}
			return
		}
		if !req.Role.Valid() || req.Email == "" || req.Email != strings.TrimSpace(req.Email) || len(req.Email) > auth.MaxEmailLen {
			t.Fatalf("accepted %+v", req)
		}
		again, _ := json.Marshal(req)
		var back MemberRequest
		if err := httpapi.Decode(again, &back); err != nil || back != req {
			t.Fatalf("round trip of %+v: %+v, %v", req, back, err)
		}
	})
}

func TestNormalizeContent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\r\nb", "a\nb"}, {"a\rb", "a\nb"}, {"a\r\r\nb", "a\n\nb"}, {"plain", "plain"}, {"", ""},
	} {
		got, err := NormalizeContent(tc.in, 100)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeContent(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := NormalizeContent("toolong", 3); err == nil {
		t.Error("content over the limit accepted")
	}
	if _, err := NormalizeContent("\xff", 3); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if _, err := NormalizeContent("a\x00b", 3); err == nil {
		t.Error("U+0000 accepted")
	}
}
