package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kaiin-project/kaiin/internal/config"
)

func TestLoadKEKGenerated(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	kek, err := LoadKEK(cfg)
	if err != nil || len(kek) != KEKSize {
		t.Fatalf("LoadKEK = %d bytes, %v", len(kek), err)
	}
	path := filepath.Join(cfg.DataDir, GeneratedKEKFile)
	for p, want := range map[string]os.FileMode{path: 0o600, cfg.DataDir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", p, got, want)
		}
	}
	again, err := LoadKEK(cfg)
	if err != nil || !bytes.Equal(again, kek) {
		t.Fatalf("second LoadKEK did not reuse the key: %v", err)
	}
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 1 {
		t.Errorf("data dir holds %d files, want only kek (temporary file left behind?)", len(entries))
	}
}

// TestLoadKEKGeneratedRace: processes starting at once on a fresh data
// directory all get the one key.
func TestLoadKEKGeneratedRace(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadKEK(cfg)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent first starts got different keys")
		}
	}
}

func TestLoadKEK(t *testing.T) {
	dir := t.TempDir()
	good := make([]byte, KEKSize)
	for i := range good {
		good[i] = byte(i * 7)
	}
	goodB64 := base64.StdEncoding.EncodeToString(good)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	goodFile := write("kek", goodB64+"\n", 0o600)
	groupFile := write("kek-group", goodB64, 0o640)
	pg := "postgres://kaiin@db/kaiin"

	for _, tt := range []struct {
		name       string
		keys       config.Keys
		dbURL      string
		wantKey    string // the setting the error names; "" for success
		wantMsg    string
		mustNotSay string
	}{
		{name: "kek", keys: config.Keys{KEK: goodB64}, dbURL: pg},
		{name: "kek_file", keys: config.Keys{KEKFile: goodFile}, dbURL: pg},
		{name: "kek_file group-readable", keys: config.Keys{KEKFile: groupFile}},
		{name: "required with database_url", dbURL: pg, wantKey: "keys.kek_file", wantMsg: "KAIIN_KEYS_KEK"},
		{name: "bad base64", keys: config.Keys{KEK: "not*base64*at*all"}, wantKey: "keys.kek", wantMsg: "not base64", mustNotSay: "not*base64"},
		{name: "wrong length", keys: config.Keys{KEK: base64.StdEncoding.EncodeToString(good[:16])}, wantKey: "keys.kek", wantMsg: "16 bytes",
			mustNotSay: base64.StdEncoding.EncodeToString(good[:16])},
		{name: "both", keys: config.Keys{KEK: goodB64, KEKFile: goodFile}, wantKey: "keys.kek_file", wantMsg: "together with keys.kek", mustNotSay: goodB64},
		{name: "file missing", keys: config.Keys{KEKFile: filepath.Join(dir, "nope")}, wantKey: "keys.kek_file", wantMsg: "no such file"},
		{name: "file world-readable", keys: config.Keys{KEKFile: write("kek-open", goodB64, 0o644)}, wantKey: "keys.kek_file", wantMsg: "mode 0644", mustNotSay: goodB64},
		{name: "file bad base64", keys: config.Keys{KEKFile: write("kek-bad", "hunter2!!", 0o600)}, wantKey: "keys.kek_file", wantMsg: "not base64", mustNotSay: "hunter2"},
		{name: "file wrong length", keys: config.Keys{KEKFile: write("kek-short", "c2hvcnQ=", 0o600)}, wantKey: "keys.kek_file", wantMsg: "5 bytes", mustNotSay: "c2hvcnQ"},
		{name: "file is a directory", keys: config.Keys{KEKFile: dir}, wantKey: "keys.kek_file", wantMsg: "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = filepath.Join(t.TempDir(), "data")
			cfg.DatabaseURL = tt.dbURL
			cfg.Keys = tt.keys
			kek, err := LoadKEK(cfg)
			if tt.wantKey == "" {
				if err != nil || !bytes.Equal(kek, good) {
					t.Fatalf("LoadKEK = %x, %v; want the configured key", kek, err)
				}
				if _, err := os.Stat(cfg.DataDir); err == nil {
					t.Error("a configured KEK still created the data directory")
				}
				return
			}
			var fe config.FieldError
			if !errors.As(err, &fe) || fe.Key != tt.wantKey || !strings.Contains(fe.Msg, tt.wantMsg) {
				t.Fatalf("LoadKEK error = %v, want one on %s saying %q", err, tt.wantKey, tt.wantMsg)
			}
			if kek != nil {
				t.Error("key returned with an error")
			}
			if tt.mustNotSay != "" && strings.Contains(err.Error(), tt.mustNotSay) {
				t.Errorf("error shows the secret: %v", err)
			}
			if tt.keys.KEKFile != "" && tt.wantKey == "keys.kek_file" && !strings.Contains(err.Error(), tt.keys.KEKFile) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestLoadKEKGeneratedDamaged(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if _, err := LoadKEK(cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, GeneratedKEKFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEK(cfg); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "mode 0644") {
		t.Errorf("world-readable generated KEK: %v", err)
	}
}
