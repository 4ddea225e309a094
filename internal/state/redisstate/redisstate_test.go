package redisstate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/state/statetest"
)

// redisURL is the shared test server. Tests never flush it: each uses keys
// under its own random prefix and deletes them afterwards.
func redisURL() string {
	if u := os.Getenv("KAIIN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func TestRedis(t *testing.T) {
	opts, err := ParseURL(redisURL())
	if err != nil {
		t.Fatalf("KAIIN_TEST_REDIS_URL: %v", err)
	}
	requireReachable(t, opts)
	statetest.Run(t, func(t *testing.T) (a, b state.State) {
		return newPair(t, opts)
	})
}

func TestRedisCluster(t *testing.T) {
	addrs := startCluster(t, 3)
	statetest.Run(t, func(t *testing.T) (a, b state.State) {
		// The two handles discover the cluster from different seeds.
		return newPair(t, Options{Addrs: addrs[:1], Cluster: true}, Options{Addrs: addrs[2:], Cluster: true})
	})

	// The conformance suite's Delete spans slots by chance; here it does
	// for sure, across nodes.
	t.Run("DeleteAcrossNodes", func(t *testing.T) {
		ctx := t.Context()
		a, _ := newPair(t, Options{Addrs: addrs, Cluster: true})
		s := a.(*State)
		cc := s.c.(*redis.ClusterClient)
		owners := map[string]bool{}
		var keys []string
		for i := 0; len(owners) < 3 && i < 1000; i++ {
			k := fmt.Sprintf("k%d", i)
			owner, err := nodeOf(ctx, cc, s.prefix+k)
			if err != nil {
				t.Fatal(err)
			}
			if !owners[owner] {
				owners[owner] = true
				keys = append(keys, k)
				if err := s.Set(ctx, k, []byte("v"), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(owners) != 3 {
			t.Fatalf("keys fell on %d nodes; want 3", len(owners))
		}
		if err := s.Delete(ctx, keys...); err != nil {
			t.Fatalf("Delete of keys on 3 nodes = %v", err)
		}
		for _, k := range keys {
			if _, err := s.Get(ctx, k); !errors.Is(err, state.ErrNotFound) {
				t.Errorf("Get(%q) after Delete = %v; want ErrNotFound", k, err)
			}
		}
	})
}

// A wrong password fails with an error that does not quote it.
func TestRedisAuthErrorHidesPassword(t *testing.T) {
	opts, err := ParseURL(redisURL())
	if err != nil {
		t.Fatalf("KAIIN_TEST_REDIS_URL: %v", err)
	}
	requireReachable(t, opts)
	const pw = "not-the-password-4f9c"
	opts.Password = pw
	opts.Username = "kaiin-no-such-user"
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Ping(t.Context())
	if err == nil {
		t.Fatal("Ping with a wrong user and password succeeded")
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("error %q shows the password", err)
	}
	if scrubbed := s.wrap("op", fmt.Errorf("AUTH %s failed", pw)).Error(); strings.Contains(scrubbed, pw) {
		t.Errorf("wrap left the password in %q", scrubbed)
	}
}

// The key prefix keeps deployments sharing a server apart.
func TestRedisKeyPrefix(t *testing.T) {
	opts, err := ParseURL(redisURL())
	if err != nil {
		t.Fatalf("KAIIN_TEST_REDIS_URL: %v", err)
	}
	requireReachable(t, opts)
	ctx := t.Context()
	a, _ := newPair(t, opts)
	b, _ := newPair(t, opts)
	if err := a.Set(ctx, "k", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "k"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("other prefix Get = %q, %v; want ErrNotFound", v, err)
	}
	raw := redis.NewClient(&redis.Options{Addr: opts.Addrs[0], Username: opts.Username, Password: opts.Password, DB: opts.DB, TLSConfig: opts.TLS})
	defer raw.Close()
	if v, err := raw.Get(ctx, a.(*State).prefix+"k").Bytes(); err != nil || !bytes.Equal(v, []byte("a")) {
		t.Errorf("raw Get(prefix+k) = %q, %v; want the value", v, err)
	}
}

// newPair returns two States on the backend(s) given (one Options: the
// same for both), sharing a fresh random key prefix whose keys are deleted
// when t ends.
func newPair(t *testing.T, opts ...Options) (a, b state.State) {
	t.Helper()
	if len(opts) == 1 {
		opts = append(opts, opts[0])
	}
	p := make([]byte, 6)
	rand.Read(p)
	prefix := "kaiintest:" + hex.EncodeToString(p) + ":"
	var ss [2]*State
	for i := range ss {
		o := opts[i]
		o.KeyPrefix = prefix
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	t.Cleanup(func() {
		deletePrefix(t, ss[0], prefix)
		for _, s := range ss {
			s.Close()
		}
	})
	return ss[0], ss[1]
}

// deletePrefix removes a test's keys with SCAN and DEL: the server is
// shared, so FLUSHDB is out of the question.
func deletePrefix(t *testing.T, s *State, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		t.Errorf("delete test keys %s*: %v", prefix, err)
	}
}

func requireReachable(t *testing.T, opts Options) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Redis is required for this test and is not reachable at %s (set KAIIN_TEST_REDIS_URL): %v", opts, err)
	}
}

func nodeOf(ctx context.Context, cc *redis.ClusterClient, key string) (string, error) {
	c, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return "", err
	}
	return c.Options().Addr, nil
}

// startCluster starts n redis-server processes with cluster mode on free
// loopback ports, joins them into one cluster with no replicas, waits for
// it to serve every slot, and stops them when t ends.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not in PATH; install Redis (for example apt-get install redis-server) to run the Redis Cluster tests: %v", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli is not in PATH; install Redis (for example apt-get install redis-tools) to run the Redis Cluster tests: %v", err)
	}
	var addrs []string
	for range n {
		dir := t.TempDir()
		port := freeClusterPort(t)
		cmd := exec.Command(server,
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "5000",
			"--dir", dir,
			"--save", "",
			"--appendonly", "no",
			"--logfile", filepath.Join(dir, "redis.log"),
		)
		killWithParent(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		addrs = append(addrs, addr)
		waitFor(t, 10*time.Second, "redis-server on "+addr+" to answer (log: "+filepath.Join(dir, "redis.log")+")", func(ctx context.Context) (bool, error) {
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err() == nil, nil
		})
	}

	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		waitFor(t, 20*time.Second, "cluster_state:ok on "+addr, func(ctx context.Context) (bool, error) {
			c := redis.NewClient(&redis.Options{Addr: addr})
			defer c.Close()
			info, err := c.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok"), nil
		})
	}
	return addrs
}

// freeClusterPort returns a free loopback port p whose cluster bus port
// p+10000 is free too (older redis-server has no --cluster-port).
func freeClusterPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		l.Close()
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	t.Fatal("no free port pair (p, p+10000) for a Redis Cluster node")
	return 0
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func(ctx context.Context) (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		done, err := ok(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
