package httpapi

import (
	"strings"
	"testing"

	"tandem/store"
)

// signup is a request body with a few string members.
type signup struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// TestDecodeStrict: a body is one JSON object whose member names are
// spelled exactly, each once, with nothing after it; the error says which
// rule was broken.
func TestDecodeStrict(t *testing.T) {
	var ok signup
	if err := Decode([]byte(` {"email":"a@b.co","password":"12345678","name":"A"} `), &ok); err != nil || ok.Name != "A" {
		t.Fatalf("good body: %+v, %v", ok, err)
	}
	for _, tc := range []struct{ name, body, say string }{
		{"upper-case names", `{"EMAIL":"a@b.co","PASSWORD":"12345678","NAME":"A"}`, `unknown member "/EMAIL"`},
		{"one name in another case", `{"email":"a@b.co","password":"12345678","Name":"A"}`, `unknown member "/Name"`},
		{"duplicate name", `{"email":"a@b.co","password":"12345678","name":"A","name":"B"}`, `duplicate member "/name"`},
		{"trailing brace", `{"email":"a@b.co","password":"12345678","name":"A"} }`, "nothing after it"},
		{"two objects", `{"name":"A"}{"name":"B"}`, "nothing after it"},
		{"trailing garbage", `{"name":"A"} x`, "nothing after it"},
		{"unknown member", `{"name":"A","admin":true}`, `unknown member "/admin"`},
		{"wrong type", `{"name":7}`, `"/name" must be a string`},
		{"not an object", `["A"]`, "must be an object"},
		{"lone surrogate", `{"name":"\ud800"}`, "not valid JSON"},
		{"invalid UTF-8", "{\"name\":\"\xff\"}", "not valid UTF-8"},
		{"empty", ` `, "empty"},
		{"truncated", `{"name":"A"`, "not valid JSON"},
	} {
		var req signup
		err := Decode([]byte(tc.body), &req)
		code, msg := store.ErrorCode(err)
		t.Logf("%s: %s", tc.name, msg)
		if err == nil || code != store.CodeBadRequest || !strings.Contains(msg, tc.say) {
			t.Errorf("%s: %s: err %v (code %s), want bad_request saying %q", tc.name, tc.body, err, code, tc.say)
		}
	}
}
