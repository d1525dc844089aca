package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{Domain: "acme", NodeID: "n1", DataDir: "/tmp/x", RaftAddr: "127.0.0.1:7500", GRPCAddr: "127.0.0.1:7400", Bootstrap: true}
}

func TestConfigValidateSaysWhatToFix(t *testing.T) {
	no := false
	cases := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no domain", func(c *Config) { c.Domain = "" }, "--domain is required"},
		{"no node id", func(c *Config) { c.NodeID = " " }, "--node-id is required"},
		{"bad raft addr", func(c *Config) { c.RaftAddr = "localhost" }, "--raft-addr \"localhost\" is not host:port"},
		{"bootstrap and join", func(c *Config) { c.Join = []string{"127.0.0.1:1"} }, "exclude each other"},
		{"bad join", func(c *Config) { c.Bootstrap = false; c.Join = []string{"nope"} }, "--join \"nope\""},
		{"nonvoter bootstrap", func(c *Config) { c.Voter = &no }, "needs a voter"},
		{"bad duration", func(c *Config) { c.HeartbeatTimeout = "fast" }, "heartbeat_timeout \"fast\""},
		{"lease over heartbeat", func(c *Config) { c.LeaderLeaseTimeout = "1s" }, "must not exceed"},
		{"bad level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
	}
	for _, tc := range cases {
		c := validConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.hcl", `
domain    = "acme"
node_id   = "n1"
data_dir  = "/var/lib/fedlic"
raft_addr = "10.0.0.1:7500"
grpc_addr = "10.0.0.1:7400"
join      = ["10.0.0.2:7400"]
voter     = false
heartbeat_timeout = "500ms"
`)
	c, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "acme" || len(c.Join) != 1 || c.IsVoter() || c.HeartbeatTimeout != "500ms" {
		t.Fatalf("decoded %+v", c)
	}
	for name, body := range map[string]string{
		"unknown.hcl": `domain = "acme"` + "\n" + `colour = "blue"`,
		"syntax.hcl":  `domain = "acme`,
		"type.hcl":    `join = "not-a-list-of" + 3`,
	} {
		if _, err := LoadFile(write(name, body)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
}

// FuzzLoadFile: any file content gives a config or an error, never a
// panic, and a config that validates has every required field.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte(`domain = "acme"` + "\nnode_id = \"n1\"\n"))
	f.Add([]byte(`join = ["a:1", "b:2"]` + "\nvoter = true\n"))
	f.Add([]byte(`heartbeat_timeout = "1ms"`))
	f.Add([]byte(`domain = "acme`))
	f.Add([]byte("\x00\xff{{"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		p := filepath.Join(dir, "c.hcl")
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Skip()
		}
		c, err := LoadFile(p)
		if err != nil {
			return
		}
		if c.Validate() == nil && (c.Domain == "" || c.NodeID == "" || c.RaftAddr == "" || c.GRPCAddr == "" || c.DataDir == "") {
			t.Fatalf("config without required fields validated: %+v", c)
		}
	})
}
