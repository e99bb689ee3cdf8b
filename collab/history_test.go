package collab

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExportName(t *testing.T) {
	for _, tc := range []struct{ title, want string }{
		{"Notes", "Notes"},
		{"", "document"},
		{"  ...  ", "document"},
		{"a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j"},
		{"tab\there  and\nnewline", "tab here and newline"},
		{"..hidden.", "hidden"},
		{"Résumé 2024 ✓", "Résumé 2024 ✓"},
		{"bell\a", "bell_"},
		{"\u202eevil", "_evil"},
	} {
		if got := ExportName(tc.title); got != tc.want {
			t.Errorf("ExportName(%q) = %q, want %q", tc.title, got, tc.want)
		}
	}
	if got := ExportName(strings.Repeat("é", 300)); utf8.RuneCountInString(got) != 100 {
		t.Errorf("a long title gives %d characters", utf8.RuneCountInString(got))
	}
	if got := attachment("a \"b\".txt"); got != `attachment; filename="a \"b\".txt"` {
		t.Errorf("attachment = %s", got)
	}
}
