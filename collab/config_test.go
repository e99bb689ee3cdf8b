package collab

import (
	"math"
	"strings"
	"testing"
)

// TestConfigValidate: the defaults are valid; a setting that is zero,
// negative or not a number is refused by its flag's name, and NewHub
// refuses such a config rather than filling in a default.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		flag string
	}{
		{"zero config", func(c *Config) { *c = Config{} }, "--max-body-bytes"},
		{"body", func(c *Config) { c.Auth.MaxBodyBytes = 0 }, "--max-body-bytes"},
		{"document", func(c *Config) { c.MaxDocBytes = -1 }, "--max-doc-bytes"},
		{"page bytes", func(c *Config) { c.MaxPageBytes = 0 }, "--max-page-bytes"},
		{"member changes", func(c *Config) { c.MemberChangesPerMinute = 0 }, "--member-changes-per-minute"},
		{"queue", func(c *Config) { c.OutQueue = 0 }, "--out-queue"},
		{"NaN rate", func(c *Config) { c.OpsPerSecond = math.NaN() }, "--ops-per-second"},
		{"infinite rate", func(c *Config) { c.JoinsPerSecond = math.Inf(1) }, "--joins-per-second"},
		{"period", func(c *Config) { c.PresenceEvery = 0 }, "--presence-every"},
	} {
		cfg := DefaultConfig()
		tc.set(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.flag+" must be positive") {
			t.Errorf("%s: Validate = %v, want %s must be positive", tc.name, err, tc.flag)
		}
		if h, err := NewHub(nil, cfg, nil, nil); h != nil || err == nil {
			t.Errorf("%s: NewHub accepted the config", tc.name)
		}
	}
	cfg := DefaultConfig()
	cfg.Coalesce = 0 // off
	if err := cfg.Validate(); err != nil {
		t.Errorf("Coalesce 0: %v", err)
	}
}
